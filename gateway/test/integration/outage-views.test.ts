/**
 * After Redis comes back empty, changes made during the outage were never published: clients
 * get a fresh snapshot (presence_reset) so nobody keeps seeing a user who left meanwhile;
 * watchers of a list get one of their own users.
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
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'views', { nodes: 2, env: { PRESENCE_GRACE_MS: '0', PRESENCE_LEASE_MS: '3000' } });
  ({ redis, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

it('resets client views after Redis restarts empty, dropping users who left during the outage', async () => {
  const watcher = await fx.connect(a, 'views-watcher');
  const narrow = await fx.connect(a, 'views-narrow');
  await narrow.request({ type: 'watch', users: ['stays', 'leaves', 'never'] });
  const stays = await fx.connect(b, 'stays');
  const leaves = await fx.connect(b, 'leaves');
  await waitFor('both online', () => ['stays', 'leaves'].every((u) => watcher.presence(u).some((c) => c.status === 'online')));
  await waitFor('the list watcher saw both', () => ['stays', 'leaves'].every((u) => narrow.presence(u).length === 1));
  await redis.stop();
  leaves.close();
  await waitFor('b noticed the close', async () => (await fetch(`${b.http}/metrics`).then((r) => r.text())).includes('gateway_connections{node="views-b"} 1'));
  await redis.start();
  const reset = await watcher.next((f) => f.type === 'presence_reset', 15_000);
  expect(reset.online.sort()).toEqual(['stays', 'views-narrow', 'views-watcher']);
  // A watcher of a list gets a reset of its own users: `leaves` left during the outage.
  const own = await narrow.next((f) => f.type === 'presence_reset', 15_000);
  expect(own).toEqual({ type: 'presence_reset', online: ['stays'], reason: 'outage' });
  expect(watcher.closed).toBeUndefined();
  expect(stays.closed).toBeUndefined();
  const r = redis.client();
  expect((await r.smembers(`${(await r.keys('*online_users'))[0]}`)).sort()).toEqual(['stays', 'views-narrow', 'views-watcher']);
  watcher.close();
  narrow.close();
  stays.close();
}, 40_000);
