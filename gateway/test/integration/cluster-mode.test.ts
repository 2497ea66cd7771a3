/**
 * Two gateways on a real three-master Redis Cluster (REDIS_CLUSTER_NODES, hash-tagged prefix)
 * behave as on one Redis: presence across nodes, cross-node actions, history recovery.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { waitFor } from '../harness/wait.js';

const PREFIX = '{gw}:';
const KEY = 'cluster-api-key-0123456789';
const fx = gatewayFixture();
let cluster: RedisCluster;
let admin: Cluster;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  cluster = await startRedisCluster();
  admin = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  admin.on('error', () => {});
  const env = {
    REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PREFIX: PREFIX, DB_PATH: tempDbPath(), PRESENCE_GRACE_MS: '0',
    API_KEYS: KEY, HISTORY_ACTIONS: 'news=50/5m',
  };
  a = await fx.gateway({ ...env, NODE_ID: 'rc-a' });
  b = await fx.gateway({ ...env, NODE_ID: 'rc-b' });
}, 60_000);

afterAll(async () => {
  await fx.teardown();
  admin?.disconnect();
  await cluster?.stop();
});

it('keeps presence, actions and history working across nodes', async () => {
  const watcher = await fx.connect(a, 'rc-watcher');
  const alice = await fx.connect(b, 'rc-alice');
  await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'rc-alice' && c.status === 'online'));
  expect(await admin.sismember(`${PREFIX}online_users`, 'rc-alice')).toBe(1);

  for (const c of [watcher, alice]) await c.request({ type: 'join', action: 'room' });
  await alice.request({ type: 'publish', action: 'room', data: 'across the cluster' });
  expect((await watcher.next((f) => f.type === 'message')).from.userId).toBe('rc-alice');

  await watcher.request({ type: 'join', action: 'news' });
  const publish = (n: number) => fetch(`${b.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action: 'news', data: n }),
  });
  for (const n of [1, 2, 3]) expect((await publish(n)).status).toBe(200);
  await waitFor('three news', () => watcher.messages('news').length === 3);
  const late = await fx.connect(b, 'rc-late');
  const ack = await late.request({ type: 'join', action: 'news', since: watcher.messages('news')[0].offset });
  expect(ack.result).toMatchObject({ recovered: true, delivered: 2 });
  expect(late.messages('news').map((m) => m.data)).toEqual([2, 3]);

  alice.close();
  await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'rc-alice' && c.status === 'offline'));
  expect(await admin.sismember(`${PREFIX}online_users`, 'rc-alice')).toBe(0);
  watcher.close();
  late.close();
}, 30_000);
