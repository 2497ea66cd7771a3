/**
 * Health and metrics for orchestrators and load balancers:
 * - /healthz is 200 while the process runs; /readyz is 503 while the node drains and while
 *   Redis is unreachable, 200 again once it is back;
 * - /metrics is valid Prometheus text, its counters move with traffic, and it has every
 *   metric deploy/grafana-dashboard.json queries.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';
import { get } from './http.js';
import { ROOT } from './pm2.js';
import { parseExposition, value } from './prometheus.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let env: Record<string, string>;

const node = (extra: Record<string, string> = {}) => fx.gateway({ ...env, ...extra });

async function metrics(gw: GatewayProcess) {
  const answer = await get(`${gw.http}/metrics`);
  expect(answer.status).toBe(200);
  return parseExposition(answer.body);
}

beforeAll(async () => {
  cluster = await startCluster(fx, 'ready', { nodes: 0, env: { PRESENCE_BATCH_MS: '10' } });
  ({ redis, env } = cluster);
});

afterAll(() => cluster?.stop());

describe('/readyz during a drain', () => {
  it('turns 503 "draining" at once (seen on a connection opened before), refuses new connections, and the node exits 0', async () => {
    const gw = await node({ DRAIN_SPREAD_MS: '200', PRESENCE_GRACE_MS: '1500' });
    const client = await fx.connect(gw, 'drained-user');
    // The listener closes when the drain starts, so only a connection opened before can still ask.
    const kept = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await get(`${gw.http}/readyz`, { agent: kept })).status).toBe(200);

    const exit = gw.kill('SIGTERM');
    let exited = false;
    void exit.then(() => { exited = true; });
    const seen: Array<{ kept: number | string; fresh: number | string; body: string }> = [];
    for (let i = 0; i < 200 && !exited; i++) {
      const [k, f] = await Promise.all([get(`${gw.http}/readyz`, { agent: kept }), get(`${gw.http}/readyz`)]);
      seen.push({ kept: k.status, fresh: f.status, body: k.body });
      await new Promise((r) => setTimeout(r, 25));
    }
    kept.destroy();
    const firstNotReady = seen.findIndex((s) => s.kept !== 200);
    console.log(`drain: ${seen.length} polls; first not-ready at poll ${firstNotReady}: ${JSON.stringify(seen[firstNotReady])}`);
    const draining = seen.filter((s) => s.kept === 503);
    expect(draining.length).toBeGreaterThan(0);
    expect(JSON.parse(draining[0].body)).toEqual({ status: 'not_ready', problems: ['draining'] });
    // Once not ready, never ready again, on old or new connections; and new connections are
    // refused (one racing the listener's close may still get its 503, or a reset).
    expect(seen.slice(firstNotReady).filter((s) => s.kept === 200 || s.fresh === 200)).toEqual([]);
    expect(seen[seen.length - 1].fresh).toBe('ECONNREFUSED');
    expect((await client.waitClosed()).code).toBe(1012);
    expect(await exit).toBe(0);
  });
});

describe('/metrics', () => {
  it('is valid Prometheus text whose counters and gauges follow the traffic', async () => {
    const a = await node();
    const b = await node();
    const before = await metrics(b);
    const inBefore = value(before, 'gateway_messages_in_total');
    expect(value(before, 'gateway_connections')).toBe(0);

    const reader = await fx.connect(a, 'metrics-reader');
    const writer = await fx.connect(b, 'metrics-writer');
    await reader.request({ type: 'join', action: 'metrics-room' });
    await writer.request({ type: 'join', action: 'metrics-room' });
    for (let i = 0; i < 5; i++) await writer.request({ type: 'publish', action: 'metrics-room', data: { i } });
    await waitFor('5 messages delivered across nodes', () => reader.messages('metrics-room').length === 5);

    const [ma, mb] = await Promise.all([metrics(a), metrics(b)]);
    expect(value(mb, 'gateway_messages_in_total') - inBefore).toBeGreaterThanOrEqual(6); // a join and 5 publishes
    expect(value(mb, 'gateway_connections')).toBe(1);
    expect(value(ma, 'gateway_connections')).toBe(1);
    expect(value(ma, 'gateway_users_online_local')).toBe(1);
    expect(value(ma, 'gateway_messages_out_total', { source: 'remote' })).toBeGreaterThanOrEqual(5);
    expect(value(ma, 'gateway_publish_to_deliver_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(value(ma, 'gateway_redis_up')).toBe(1);
    expect(value(ma, 'gateway_draining')).toBe(0);
    expect(ma.samples.every((s) => s.labels.node === a.nodeId)).toBe(true);
  });

  it('has every metric the Grafana dashboard queries', async () => {
    const exposition = await metrics(await node());
    const dashboard = readFileSync(join(ROOT, 'deploy', 'grafana-dashboard.json'), 'utf8');
    const queried = new Set([...dashboard.matchAll(/\b(gateway_[a-z_]+?)(_bucket|_sum|_count)?\b/g)].map((m) => m[1] + (exposition.types.has(m[1]) ? '' : m[2] ?? '')));
    expect(queried.size).toBeGreaterThan(8);
    expect([...queried].filter((name) => !exposition.types.has(name))).toEqual([]);
  });
});

describe('/readyz and Redis', () => {
  it('is 503 while Redis is down (/healthz stays 200) and 200 again once it is back', async () => {
    const gw = await node();
    expect((await get(`${gw.http}/readyz`)).status).toBe(200);
    await redis.stop();
    const down = await waitFor('readyz 503', async () => {
      const r = await get(`${gw.http}/readyz`);
      return r.status === 503 ? r : undefined;
    }, 10_000, 50);
    expect(JSON.parse(down.body).problems).toContain('cluster bus unreachable');
    expect((await get(`${gw.http}/healthz`)).status).toBe(200);
    expect(value(await metrics(gw), 'gateway_redis_up')).toBe(0);

    const restartedAt = Date.now();
    await redis.start();
    await waitFor('readyz 200 again', async () => (await get(`${gw.http}/readyz`)).status === 200, 15_000, 50);
    console.log(`readyz back to 200 ${Date.now() - restartedAt} ms after Redis came back`);
    expect(value(await metrics(gw), 'gateway_redis_up')).toBe(1);
  });
});
