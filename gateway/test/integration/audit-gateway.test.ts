/**
 * Presence drift is measured, not assumed: a running gateway's audit finds counters and set
 * members corrupted by hand in Redis, repairs them, and reports it in its metrics.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture();
let cluster: Cluster;
let redis: RedisServer;
let gw: GatewayProcess;
let prefix: string;

beforeAll(async () => {
  cluster = await startCluster(fx, 'drift', { nodes: 1, env: { AUDIT_INTERVAL_MS: '500' } });
  ({ redis, prefix, nodes: [gw] } = cluster);
});

afterAll(() => cluster?.stop());

it('repairs a corrupted counter and a stray online member, and counts the repairs', async () => {
  const c = await fx.connect(gw, 'drifter');
  const r = redis.client();
  await r.hset(`${prefix}presence:counts`, 'drifter', '7');
  await r.sadd(`${prefix}online_users`, 'ghost');
  await waitFor('counter repaired', async () => (await r.hget(`${prefix}presence:counts`, 'drifter')) === '1', 5000);
  await waitFor('ghost removed', async () => (await r.sismember(`${prefix}online_users`, 'ghost')) === 0, 5000);
  expect(await r.sismember(`${prefix}online_users`, 'drifter')).toBe(1);
  // Redis holds the repair as soon as the audit's script ran; the node counts it when the
  // script's answer reaches it, a moment later.
  const repaired = async () => {
    const metrics = await (await fetch(`${gw.http}/metrics`)).text();
    return Number(/gateway_presence_drift_repaired_total\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
  };
  await waitFor('repairs counted in the metrics', async () => (await repaired()) >= 2, 5000);
  expect(gw.logs.some((l) => l.includes('presence drift repaired'))).toBe(true);
  c.close();
});
