/**
 * Gateways on a real three-master Redis Cluster (REDIS_CLUSTER_NODES, hash-tagged prefix)
 * behave as on one Redis: presence across nodes (partitioned over the shards by default),
 * multi-tab, a SIGKILLed node's users reaped, cross-node actions, history recovery.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CLUSTER_PRESENCE_PARTITIONS } from '../../src/config.js';
import { partitionOf, partitionPrefixes } from '../../src/presence/partitions.js';
import type { TestClient } from '../harness/client.js';
import { gatewayFixture } from '../harness/fixture.js';
import { spawnGateway, tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { waitFor } from '../harness/wait.js';

const PREFIX = '{gw}:';
const KEY = 'cluster-api-key-0123456789';
const PARTS = partitionPrefixes(PREFIX, CLUSTER_PRESENCE_PARTITIONS);
/** Where a tool finds a user's online flag with partitioned presence: its partition's online_users. */
const onlineKey = (userId: string) => `${PARTS[partitionOf(userId, PARTS.length)]}online_users`;
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: RedisCluster;
let admin: Cluster;
let env: Record<string, string>;
let a: GatewayProcess;
let b: GatewayProcess;

const went = (c: TestClient, userId: string, status: string) => c.presence(userId).some((x) => x.status === status);
const api = async (gw: GatewayProcess, path: string) => (await fetch(`${gw.http}${path}`, { headers: { authorization: `Bearer ${KEY}` } })).json();

beforeAll(async () => {
  cluster = await startRedisCluster();
  admin = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
  admin.on('error', () => {});
  env = {
    REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PREFIX: PREFIX, DB_PATH: tempDbPath(), PRESENCE_GRACE_MS: '0', PRESENCE_BATCH_MS: '10',
    PRESENCE_LEASE_MS: '1500', API_KEYS: KEY, HISTORY_ACTIONS: 'news=50/5m', WELCOME_ONLINE_LIMIT: '5',
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
  expect(await admin.sismember(onlineKey('rc-alice'), 'rc-alice')).toBe(1);

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
  expect(await admin.sismember(onlineKey('rc-alice'), 'rc-alice')).toBe(0);
  watcher.close();
  late.close();
}, 30_000);

it('spreads presence over the primaries, counts every partition in the welcome and /api/online, and keeps multi-tab users online', async () => {
  const ids = Array.from({ length: 24 }, (_, i) => `spread-${i}`);
  const clients = await Promise.all(ids.map((id, i) => fx.connect(i % 2 ? a : b, id)));
  const extraTab = await fx.connect(a, 'spread-0');
  const watcher = await fx.connect(b, 'spread-watcher');
  const welcome = (await watcher.next((f) => f.type === 'welcome')) as any;
  expect(welcome.onlineCount).toBeGreaterThanOrEqual(ids.length + 1);
  // The welcome's first page (at most WELCOME_ONLINE_LIMIT) and the pages after it, over the socket, walk every partition.
  const paged = new Set<string>(welcome.online);
  expect(welcome.online.length).toBeLessThanOrEqual(5);
  for (let cursor = welcome.onlineCursor, pages = 0; cursor !== undefined; pages++) {
    expect(pages).toBeLessThan(50);
    const { result } = (await watcher.request({ type: 'online', cursor })) as any;
    result.users.forEach((u: string) => paged.add(u));
    cursor = result.cursor;
  }
  for (const id of [...ids, 'spread-watcher']) expect(paged.has(id), id).toBe(true);

  const owners = new Set<number>();
  for (const id of ids) {
    expect(await admin.sismember(onlineKey(id), id)).toBe(1);
    owners.add(cluster.ownerOf(onlineKey(id)));
  }
  expect(owners.size, 'primaries holding online_users partitions').toBeGreaterThanOrEqual(2);

  const listed = new Set<string>();
  let cursor: string | undefined;
  let count = 0;
  for (let pages = 0; pages < 50; pages++) {
    const page = await api(a, `/api/online?limit=5${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    count = page.count;
    page.users.forEach((u: string) => listed.add(u));
    cursor = page.cursor;
    if (cursor === undefined) break;
  }
  expect(cursor).toBeUndefined();
  for (const id of [...ids, 'spread-watcher']) expect(listed.has(id), id).toBe(true);
  expect(count).toBe(listed.size);

  clients[0].close();
  clients[1].close();
  await waitFor('spread-1 offline', () => went(watcher, 'spread-1', 'offline'), 5000);
  const countsKey = `${PARTS[partitionOf('spread-0', PARTS.length)]}presence:counts`;
  await waitFor('spread-0 down to its one tab left', async () => (await admin.hget(countsKey, 'spread-0')) === '1', 5000);
  expect(went(watcher, 'spread-0', 'offline'), 'a user with a tab left stays online').toBe(false);
  expect(await admin.sismember(onlineKey('spread-0'), 'spread-0')).toBe(1);
  extraTab.close();
  await waitFor('spread-0 offline once its last tab closed', () => went(watcher, 'spread-0', 'offline'), 5000);
  for (const c of [...clients, watcher]) c.close();
}, 30_000);

it('reaps a SIGKILLed node\'s users and memberships in every partition', async () => {
  const victim = await fx.gateway({ ...env, NODE_ID: 'rc-victim' });
  const watcher = await fx.connect(a, 'reap-watcher');
  const gone = ['reap-0', 'reap-1', 'reap-2', 'reap-3', 'reap-4', 'reap-5'];
  const victims = await Promise.all(gone.map((id) => fx.connect(victim, id)));
  await Promise.all(victims.map((c, i) => c.request({ type: 'join', action: `reap-room-${i}` })));
  const both = [await fx.connect(victim, 'reap-both'), await fx.connect(b, 'reap-both')];
  await waitFor('all online for the watcher', () => [...gone, 'reap-both'].every((id) => went(watcher, id, 'online')));

  const killedAt = Date.now();
  await victim.kill('SIGKILL');
  await waitFor('the victim\'s users offline for the watcher', () => gone.every((id) => went(watcher, id, 'offline')), 15_000);
  console.log(`cluster mode: SIGKILL to every offline event on the other node: ${Date.now() - killedAt} ms`);
  expect(went(watcher, 'reap-both', 'offline'), 'a user with a tab on a live node stays online').toBe(false);
  for (const id of gone) expect(await admin.sismember(onlineKey(id), id)).toBe(0);
  expect(await admin.sismember(onlineKey('reap-both'), 'reap-both')).toBe(1);
  const channels = await api(a, '/api/channels?prefix=reap-room-');
  expect(channels.channels).toEqual([]);
  const info = await api(a, '/api/info');
  expect(info.nodes.map((n: { id: string }) => n.id)).not.toContain('rc-victim');
  both[1].close();
  watcher.close();
}, 30_000);

it('refuses to start a node whose partition count differs from the live nodes\', writing nothing', async () => {
  const keys = async () => cluster.ports.reduce((n, port) => n + Number(cluster.cli(port, 'dbsize').trim()), 0);
  const before = await keys();
  const odd = spawnGateway({ ...env, NODE_ID: 'rc-odd', PRESENCE_PARTITIONS: '1' });
  await expect(odd).rejects.toThrow(/exited \(1\) before listening[\s\S]*PRESENCE_PARTITIONS is 1 here, but 2 live node\(s\) use 12/);
  expect(await admin.get(`${PREFIX}presence:layout`)).toBe('12');
  expect(await keys()).toBe(before);
}, 30_000);
