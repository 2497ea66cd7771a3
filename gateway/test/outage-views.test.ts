/**
 * After Redis comes back empty, changes made during the outage were never published: clients
 * get a fresh snapshot (presence_reset) so nobody keeps seeing a user who left meanwhile.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TestClient } from './harness/client.js';
import { spawnGateway, tempDbPath, tokenFor, type GatewayProcess } from './harness/gateway.js';
import { startRedis, type RedisServer } from './harness/redis.js';
import { uniquePrefix, waitFor } from './harness/wait.js';

let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('views'), DB_PATH: tempDbPath(), PRESENCE_GRACE_MS: '0', PRESENCE_LEASE_MS: '3000' };
  [a, b] = await Promise.all([spawnGateway({ ...env, NODE_ID: 'views-a' }), spawnGateway({ ...env, NODE_ID: 'views-b' })]);
});

afterAll(async () => {
  await Promise.all([a?.kill(), b?.kill()]);
  await redis?.stop();
});

it('resets client views after Redis restarts empty, dropping users who left during the outage', async () => {
  const watcher = await TestClient.connect(a.url, { token: await tokenFor('views-watcher') });
  const stays = await TestClient.connect(b.url, { token: await tokenFor('stays') });
  const leaves = await TestClient.connect(b.url, { token: await tokenFor('leaves') });
  await waitFor('both online', () => ['stays', 'leaves'].every((u) => watcher.presence(u).some((c) => c.status === 'online')));
  await redis.stop();
  leaves.close();
  await waitFor('b noticed the close', async () => (await fetch(`${b.http}/metrics`).then((r) => r.text())).includes('gateway_connections{node="views-b"} 1'));
  await redis.start();
  const reset = await watcher.next((f) => f.type === 'presence_reset', 15_000);
  expect(reset.online.sort()).toEqual(['stays', 'views-watcher']);
  expect(watcher.closed).toBeUndefined();
  expect(stays.closed).toBeUndefined();
  const r = redis.client();
  expect((await r.smembers(`${(await r.keys('*online_users'))[0]}`)).sort()).toEqual(['stays', 'views-watcher']);
  watcher.close();
  stays.close();
}, 40_000);
