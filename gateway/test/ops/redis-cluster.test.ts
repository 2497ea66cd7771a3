/**
 * Redis Cluster readiness of the stores (docs/SCALING.md): on a real three-master cluster,
 * the presence Lua scripts work when REDIS_PREFIX carries a hash tag ('{gw}:' puts every key
 * in one slot) and are refused without one (their keys span slots). The broker's classic
 * pub/sub works through a Cluster client too; these inject ioredis `Cluster` clients into the
 * stores directly. Then two gateways with REDIS_CLUSTER_NODES: their actions go over sharded
 * pub/sub, spread over the primaries (gateway/test/integration/cluster-mode.test.ts covers
 * presence, history and the publish API in that mode).
 */
import { Cluster, type Redis } from 'ioredis';
import { NODE_TOPICS, SYSTEM_TOPICS } from '../../src/node/cluster-messages.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/broker/redis.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import type { PresenceEvent } from '../../src/presence/types.js';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath } from '../harness/gateway.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { waitFor } from '../harness/wait.js';

const clients: Cluster[] = [];
let ports: number[] = [];
let redisCluster: RedisCluster;

function cluster(): Cluster {
  const c = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })), { redisOptions: { maxRetriesPerRequest: 1 } });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** The stores type their clients as Redis; a Cluster offers the same commands. */
const asRedis = (c: Cluster) => c as unknown as Redis;

function store(prefix: string, nodeId: string, redis = cluster(), sub = cluster()) {
  return new RedisPresenceStore({ redis: asRedis(redis), subscriber: asRedis(sub), prefix, nodeId, leaseMs: 5000 });
}

beforeAll(async () => {
  redisCluster = await startRedisCluster();
  ports = redisCluster.ports;
}, 40_000);

const fx = gatewayFixture();
const KEY = 'ops-cluster-api-key-0123456789';

afterAll(async () => {
  await fx.teardown();
  for (const c of clients) c.disconnect();
  await redisCluster?.stop();
});

describe('presence on a three-master Redis Cluster', () => {
  it('works with a hash-tagged prefix: counters, events, memberships, sync and reap across two nodes', async () => {
    const prefix = '{gw}:';
    const a = store(prefix, 'ca');
    const b = store(prefix, 'cb');
    const seen: PresenceEvent[] = [];
    b.onEvent((e) => seen.push(e));
    await Promise.all([a.start(), b.start()]);
    await Promise.all([a.sync({ users: new Map(), memberships: new Map() }), b.sync({ users: new Map(), memberships: new Map() })]);

    expect((await a.connect('alice', 'alice', 10)).wentOnline).toBe(true);
    expect((await b.connect('alice', 'alice', 10)).wentOnline).toBe(false);
    await a.join('room', 'conn-a', 'alice', 'alice');
    expect((await b.members('room', undefined, 10)).users).toEqual([{ id: 'alice', username: 'alice' }]);
    expect(await b.isOnline(['alice', 'bob'])).toEqual([true, false]);
    expect((await a.disconnect('alice', 'alice', 'conn-a', ['room'])).wentOffline).toBe(false);
    expect((await b.members('room', undefined, 10)).users).toEqual([]);
    await b.connect('bob', 'bob', 10);
    expect((await a.online(undefined, 10)).users.sort()).toEqual(['alice', 'bob']);
    expect(await b.refreshLease()).toEqual({ lost: false, memberships: 0 });
    await waitFor('events through the cluster', () => seen.flatMap((e) => e.changes).length >= 2, 5000);
    expect(seen.flatMap((e) => e.changes).map((c) => `${c.userId}:${c.status}`)).toEqual(['alice:online', 'bob:online']);

    // b retires in one step: its share leaves, its users go offline.
    await b.sync({ users: new Map(), memberships: new Map() });
    expect(await a.isOnline(['alice', 'bob'])).toEqual([false, false]);
    expect(await a.reap()).toEqual([]);
  });

  it('is refused without a hash tag: the scripts touch keys in several slots', async () => {
    const s = store('gw:', 'cx');
    const err = await s.connect('carol', 'carol', 10).then(() => undefined, (e: Error) => e);
    console.log(`without a hash tag: ${err?.message}`);
    expect(err?.message).toMatch(/CROSSSLOT|non local key|hash to the same slot/i);
  });
});

describe('action pub/sub on a three-master Redis Cluster', () => {
  it('delivers between two brokers with Cluster clients (classic PUBLISH, broadcast to every shard)', async () => {
    const mk = (nodeId: string) => new RedisBroker({ publisher: asRedis(cluster()), subscriber: asRedis(cluster()), prefix: '{gw}:', nodeId });
    const [a, b] = [mk('ba'), mk('bb')];
    const got: string[] = [];
    b.onMessage(({ topic, payload }) => got.push(`${topic} ${payload}`));
    await waitFor('cluster clients ready', () => a.isReady() && b.isReady(), 5000);
    await b.subscribe('room');
    await a.publish('room', '{"hello":1}');
    await waitFor('message through the cluster', () => got.length === 1, 5000);
    expect(got).toEqual(['room {"hello":1}']);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('two gateways on a three-master Redis Cluster (REDIS_CLUSTER_NODES)', () => {
  it('carry messages on 30 actions across nodes over sharded channels spread over at least two primaries', async () => {
    const env = { REDIS_CLUSTER_NODES: redisCluster.nodes, REDIS_PREFIX: '{ops}:', DB_PATH: tempDbPath(), PRESENCE_GRACE_MS: '0', API_KEYS: KEY };
    const [a, b] = await Promise.all([fx.gateway({ ...env, NODE_ID: 'ops-a' }), fx.gateway({ ...env, NODE_ID: 'ops-b' })]);
    const alice = await fx.connect(a, 'ops-alice');
    const bob = await fx.connect(b, 'ops-bob');
    const actions = Array.from({ length: 30 }, (_, i) => `ops-room-${i}`);
    for (const action of actions) await Promise.all([alice.request({ type: 'join', action }), bob.request({ type: 'join', action })]);
    for (const action of actions) await bob.request({ type: 'publish', action, data: `from b on ${action}` });
    for (const action of actions) await alice.request({ type: 'publish', action, data: `from a on ${action}` });
    await waitFor('every action crossed both ways', () => actions.every((x) => alice.messages(x).length === 1 && bob.messages(x).length === 1), 10_000);
    for (const action of actions) {
      expect(alice.messages(action).map((m) => m.data)).toEqual([`from b on ${action}`]);
      expect(bob.messages(action).map((m) => m.data)).toEqual([`from a on ${action}`]);
    }
    // Sharded channels carry the action as hash tag under the brace-less prefix; both nodes subscribe each.
    const channels = actions.map((x) => `ops:action:{${x}}`);
    const perPrimary = redisCluster.shardChannelsPerPrimary(channels, 2);
    console.log(`30 actions' sharded channels (2 subscribers each) per primary: ${perPrimary.join(' / ')}`);
    expect(perPrimary.reduce((x, y) => x + y)).toBe(30);
    expect(perPrimary.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    // Nothing of the actions went over classic pub/sub.
    expect(redisCluster.cli(redisCluster.ports[0], 'pubsub', 'channels', '*action*').trim()).toBe('');

    // Reserved topics go the same way: a server-API disconnect sent to a reaches bob on b over $control.
    // Every node is on the broadcast kinds; the per-node kinds are on each node's own topic, one subscriber each.
    const owned = (ch: string, subscribers: number) => redisCluster.shardChannelsPerPrimary([ch], subscribers)[redisCluster.ports.indexOf(redisCluster.ownerOf(ch))];
    for (const t of SYSTEM_TOPICS.filter((k) => !NODE_TOPICS.has(k))) expect(owned(`ops:action:{${t}}`, 2), t).toBe(1);
    for (const t of NODE_TOPICS) for (const gw of [a, b]) expect(owned(`ops:action:{${t}:${gw.nodeId}}`, 1), `${t}:${gw.nodeId}`).toBe(1);
    const res = await fetch(`${a.http}/api/disconnect`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'ops-bob' }),
    });
    const result = await res.json();
    expect(result.affected).toBe(1);
    expect([...result.nodes].sort()).toEqual(['ops-a', 'ops-b']); // both answered over $control-reply
    await waitFor('bob closed on the other node', () => bob.closed);
    expect(bob.closed?.code).toBe(4003);
    alice.close();
  }, 60_000);
});
