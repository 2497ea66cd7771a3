/**
 * Partitioned presence (src/presence/partitioned.ts): the model check of presence.model.test.ts
 * run on three partitions (users and actions of the model spread over all three), on the memory
 * twin and on Redis, then what only a partitioned store does: a welcome counts every partition
 * and its cursor walks them all, events say their partition, pages walk the partitions, nodes
 * merge. The Redis variant runs on a real three-primary Redis Cluster with the gateway's own
 * partition prefixes and sharded pub/sub, so a script touching a key or a channel outside its
 * partition's slot fails (CROSSSLOT).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cluster as RedisClusterClient, type Redis } from 'ioredis';
import { createMemoryPresenceBackend, MemoryPresenceStore, type MemoryPresenceBackend } from '../../src/presence/memory.js';
import { PartitionedPresenceStore, type PartitionStore } from '../../src/presence/partitioned.js';
import { partitionOf, partitionPrefixes } from '../../src/presence/partitions.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import { CursorError, type PresenceEvent, type PresenceStore } from '../../src/presence/types.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { ACTIONS, LEASE, NODES, opsArb, RUNS, run, startAll, timeoutFor, USERS, type Cluster } from './presence-model.js';

const K = 3;
const part = (id: string) => partitionOf(id, K);

/** Sums the raw state of each partition into the model's view of one store. */
interface PartState { counts: Record<string, number>; online: string[]; rooms: Record<string, number>; published: number; roomsPublished: number }
function merge(states: PartState[]): PartState {
  return {
    counts: Object.assign({}, ...states.map((s) => s.counts)),
    online: states.flatMap((s) => s.online),
    rooms: Object.assign({}, ...states.map((s) => s.rooms)),
    published: states.reduce((n, s) => n + s.published, 0),
    roomsPublished: states.reduce((n, s) => n + s.roomsPublished, 0),
  };
}

function memoryCluster(): Promise<Cluster> {
  let clock = 0;
  const backends: MemoryPresenceBackend[] = Array.from({ length: K }, () => createMemoryPresenceBackend({ now: () => clock }));
  const wiped = backends.map(() => ({ seq: 0, roomSeq: 0 }));
  const stores = NODES.map((id) => new PartitionedPresenceStore(backends.map((b) => new MemoryPresenceStore(b, id, { leaseMs: LEASE }))));
  return startAll(stores).then(() => ({
    stores,
    async expire(i) {
      clock += 1;
      for (const b of backends) b.leases.set(NODES[i], clock - 1);
    },
    async wipe() {
      backends.forEach((b, p) => {
        wiped[p].seq += b.seq;
        wiped[p].roomSeq += b.roomSeq;
        b.reset();
      });
    },
    async setCount(user, n) {
      const b = backends[part(user)];
      if (n > 0) b.counts.set(user, n);
      else b.counts.delete(user);
    },
    async setOnline(user, online) {
      const b = backends[part(user)];
      if (online) b.online.add(user);
      else b.online.delete(user);
    },
    async setRoom(action, user, n) {
      const b = backends[part(action)];
      const room = b.rooms.get(action) ?? new Map<string, number>();
      if (n > 0) room.set(user, n);
      else room.delete(user);
      if (room.size > 0) b.rooms.set(action, room);
      else b.rooms.delete(action);
      if (n > 0) b.actions.set(action, room.size);
    },
    state: async () => merge(backends.map((b, p) => ({
      counts: Object.fromEntries(b.counts),
      online: b.onlineUsers(),
      rooms: Object.fromEntries([...b.rooms].flatMap(([a, m]) => [...m].map(([u, n]) => [`${a}\n${u}`, n]))),
      published: wiped[p].seq + b.seq,
      roomsPublished: wiped[p].roomSeq + b.roomSeq,
    }))),
    dispose: async () => void (await Promise.all(stores.map((s) => s.close()))),
  }));
}

describe('partitioned presence model', () => {
  it('spreads the model over every partition (else the check proves little)', () => {
    expect(new Set(USERS.map(part)).size).toBe(K);
    expect(new Set(ACTIONS.map(part)).size).toBe(2);
  });

  const memoryRuns = RUNS || 200;
  it(`memory twin, ${K} partitions, matches the model (${memoryRuns} runs)`, async () => {
    await fc.assert(fc.asyncProperty(opsArb(40), async (ops) => run(await memoryCluster(), ops)), { numRuns: memoryRuns });
  }, timeoutFor(memoryRuns, 6));

  describe('redis cluster', () => {
    let cluster: RedisCluster;
    let redis: Redis;
    let subscriber: Redis;
    beforeAll(async () => {
      cluster = await startRedisCluster();
      const seeds = cluster.ports.map((port) => ({ host: '127.0.0.1', port }));
      redis = new RedisClusterClient(seeds, { scaleReads: 'master' }) as unknown as Redis;
      subscriber = new RedisClusterClient(seeds, { shardedSubscribers: true }) as unknown as Redis;
    }, 60_000);
    afterAll(async () => {
      redis?.disconnect();
      subscriber?.disconnect();
      await cluster?.stop();
    });

    function redisCluster(): Promise<Cluster> {
      const prefixes = partitionPrefixes(`{${uniquePrefix('pm').replace(/[{}:]/g, '')}}:`, K);
      const key = (p: number, name: string) => `${prefixes[p]}${name}`;
      const roomKey = (action: string) => key(part(action), `members:${action}`);
      const allKeys = (p: number) => [
        ...['presence:counts', 'online_users', 'presence:seq', 'presence:nodes', 'presence:room-seq', 'presence:names', 'actions'].map((n) => key(p, n)),
        ...ACTIONS.flatMap((a) => [key(p, `members:${a}`), key(p, `member-names:${a}`)]),
        ...NODES.flatMap((id) => ['', ':usernames', ':members'].map((s) => key(p, `presence:node:${id}${s}`))),
      ];
      const wiped = prefixes.map(() => ({ seq: 0, roomSeq: 0 }));
      const stores = NODES.map((nodeId) => new PartitionedPresenceStore(prefixes.map((prefix) => new RedisPresenceStore({ redis, subscriber, prefix, nodeId, leaseMs: LEASE, sharded: true }))));
      const seqs = async (p: number) => [Number((await redis.get(key(p, 'presence:seq'))) ?? 0), Number((await redis.get(key(p, 'presence:room-seq'))) ?? 0)];
      const stateOf = async (p: number): Promise<PartState> => {
        const [seq, roomSeq] = await seqs(p);
        const counts = await redis.hgetall(key(p, 'presence:counts'));
        const rooms: Record<string, number> = {};
        for (const a of ACTIONS.filter((x) => part(x) === p)) for (const [u, n] of Object.entries(await redis.hgetall(roomKey(a)))) rooms[`${a}\n${u}`] = Number(n);
        return {
          counts: Object.fromEntries(Object.entries(counts).map(([u, n]) => [u, Number(n)])),
          online: await redis.smembers(key(p, 'online_users')), rooms,
          published: wiped[p].seq + seq, roomsPublished: wiped[p].roomSeq + roomSeq,
        };
      };
      const delAll = () => Promise.all(prefixes.map((_, p) => Promise.all(allKeys(p).map((k) => redis.del(k)))));
      return startAll(stores).then(() => ({
        stores,
        async expire(i) {
          for (let p = 0; p < K; p++) expect(await redis.zadd(key(p, 'presence:nodes'), 'XX', 'CH', 1, NODES[i])).toBe(1);
        },
        async wipe() {
          for (let p = 0; p < K; p++) {
            const [seq, roomSeq] = await seqs(p);
            wiped[p].seq += seq;
            wiped[p].roomSeq += roomSeq;
          }
          await delAll();
        },
        async setCount(user, n) {
          await (n > 0 ? redis.hset(key(part(user), 'presence:counts'), user, n) : redis.hdel(key(part(user), 'presence:counts'), user));
        },
        async setOnline(user, online) {
          await (online ? redis.sadd(key(part(user), 'online_users'), user) : redis.srem(key(part(user), 'online_users'), user));
        },
        async setRoom(action, user, n) {
          await (n > 0 ? redis.hset(roomKey(action), user, n) : redis.hdel(roomKey(action), user));
          if (n > 0) await redis.zadd(key(part(action), 'actions'), 1, action);
        },
        state: async () => merge(await Promise.all(prefixes.map((_, p) => stateOf(p)))),
        async dispose() {
          await Promise.all(stores.map((s) => s.close()));
          await delAll();
        },
      }));
    }

    const redisRuns = RUNS || 25;
    it(`Redis Cluster, ${K} partitions, matches the model (${redisRuns} runs)`, async () => {
      await fc.assert(fc.asyncProperty(opsArb(30), async (ops) => run(await redisCluster(), ops)), { numRuns: redisRuns });
    }, timeoutFor(redisRuns, 150));
  });
});

/** Two nodes on K memory partitions, started. */
async function pair(): Promise<{ a: PresenceStore; b: PresenceStore; backends: MemoryPresenceBackend[] }> {
  const backends = Array.from({ length: K }, () => createMemoryPresenceBackend());
  const node = (id: string) => new PartitionedPresenceStore(backends.map((b) => new MemoryPresenceStore(b, id, { leaseMs: LEASE })) as PartitionStore[]);
  const [a, b] = await startAll([node('a'), node('b')]);
  return { a, b, backends };
}

describe('PartitionedPresenceStore', () => {
  it('welcomes with every partition counted, seqs per partition, and a cursor that walks them all', async () => {
    const { a, b } = await pair();
    const events: PresenceEvent[] = [];
    a.onEvent((e) => events.push(e));
    const ids = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    for (const id of ids.slice(0, 39)) await b.connect(id, id, 0);
    await waitFor('a to see 39 users come online', () => events.flatMap((e) => e.changes).length === 39);
    expect(new Set(events.map((e) => e.partition))).toEqual(new Set([0, 1, 2]));
    const before = [0, 1, 2].map((p) => Math.max(0, ...events.filter((e) => e.partition === p).map((e) => e.seq)));
    const { snapshot } = await a.connect(ids[39], ids[39], 5);
    expect(snapshot.onlineCount).toBe(40);
    // The user's own partition as the connect left it (one event more); the others as this node saw them.
    expect(snapshot.seqs).toEqual(before.map((seq, p) => (p === part(ids[39]) ? seq + 1 : seq)));
    const seen = new Set(snapshot.online);
    let cursor = snapshot.cursor;
    for (let pages = 0; cursor !== undefined; pages++) {
      expect(pages).toBeLessThan(50);
      const page = await a.online(cursor, 5);
      expect(page.users.length).toBeLessThanOrEqual(5);
      page.users.forEach((u) => seen.add(u));
      cursor = page.cursor;
    }
    expect([...seen].sort()).toEqual([...ids].sort());
    for (const forged of ['x', '9.0.0', '0.9.0', '0.0.not a cursor']) await expect(a.online(forged, 5), forged).rejects.toThrow(CursorError);
  });

  it('welcomes complete and exact, without a cursor, while the whole online set fits the snapshot', async () => {
    const { a, b } = await pair();
    const ids = Array.from({ length: 9 }, (_, i) => `small-${i}`);
    for (const id of ids) await b.connect(id, id, 0);
    // a's view counts 9 others: the set fits, so the connect reads every partition at once.
    const { snapshot } = await a.connect('small-me', 'me', 100);
    expect(snapshot.cursor).toBeUndefined();
    expect(snapshot.online.sort()).toEqual([...ids, 'small-me'].sort());
    expect(snapshot.onlineCount).toBe(10);
    const perPartition = [0, 1, 2].map((p) => [...ids, 'small-me'].filter((id) => part(id) === p).length);
    expect(snapshot.seqs).toEqual(perPartition);
  });

  it('lists every channel once across partitions, merges nodes, and leaves rooms in their partitions on disconnect', async () => {
    const { a, b } = await pair();
    const actions = Array.from({ length: 12 }, (_, i) => `room-${i}`);
    for (const action of actions) await a.join(action, 'a:1', 'u1', 'ann');
    await b.connect('u2', 'bob', 0);
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await b.channels('room-', cursor, 5);
      listed.push(...page.channels.map((c) => c.action));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(listed.sort()).toEqual([...actions].sort());
    expect((await b.members('room-3', undefined, 10)).users).toEqual([{ id: 'u1', username: 'ann' }]);
    const nodes = await a.nodes();
    expect(nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    expect(nodes.find((n) => n.id === 'b')).toMatchObject({ users: 1, connections: 1 });
    await a.connect('u1', 'ann', 0);
    expect((await a.disconnect('u1', 'ann', 'a:1', actions)).wentOffline).toBe(true);
    expect((await b.channels('', undefined, 100)).channels).toEqual([]);
    expect(await b.isOnline(['u1', 'u2', 'u3'])).toEqual([false, true, false]);
  });
});
