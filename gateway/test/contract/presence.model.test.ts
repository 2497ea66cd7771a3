/**
 * Model-based check of the presence store: three nodes run random sequences of connects
 * (some under a per-user limit), disconnects (repeated ones included), crashes settled by
 * another node's reap, re-syncs, restarts under the same node id (sync with an empty
 * account), store wipes (Redis: every key of the test's prefix deleted, which is what the
 * scripts see after a restart without persistence), audits of a healthy store, and drift
 * injected by hand followed by an audit. After every step the stored counters (never
 * negative), the online set and the online set rebuilt from the event stream must equal a
 * plain model: per node, the connections it holds. Memberships run alongside: joins and leaves
 * of two actions (repeated ones included), connections closing with their actions, room drift
 * by hand; after every step the stored room counts, and the rooms rebuilt from the room
 * events, must equal the model's memberships of the live nodes.
 *
 * Runs: PRESENCE_MODEL_RUNS (default 300 memory, 80 Redis) per implementation, each a
 * sequence of at most PRESENCE_MODEL_STEPS steps (default 40 memory, 30 Redis).
 * The long configuration: PRESENCE_MODEL_RUNS=10000 (see the report for timings).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';
import { ACTIONS, LEASE, NODES, opArb, RUNS, run, startAll, STEPS, timeoutFor, type Cluster } from './presence-model.js';

async function memoryCluster(): Promise<Cluster> {
  let clock = 0;
  let published = 0;
  let roomsPublished = 0;
  const backend = createMemoryPresenceBackend({ now: () => clock });
  const stores = await startAll(NODES.map((id) => new MemoryPresenceStore(backend, id, { leaseMs: LEASE })));
  return {
    stores,
    async expire(i) {
      clock += 1;
      backend.leases.set(NODES[i], clock - 1);
    },
    async wipe() {
      published += backend.seq;
      roomsPublished += backend.roomSeq;
      backend.reset();
    },
    async setCount(user, n) {
      if (n > 0) backend.counts.set(user, n);
      else backend.counts.delete(user);
    },
    async setOnline(user, online) {
      if (online) backend.online.add(user);
      else backend.online.delete(user);
    },
    async setRoom(action, user, n) {
      const room = backend.rooms.get(action) ?? new Map<string, number>();
      if (n > 0) room.set(user, n);
      else room.delete(user);
      if (room.size > 0) backend.rooms.set(action, room);
      else backend.rooms.delete(action);
      if (n > 0) backend.actions.set(action, room.size); // the action stays listed, as a drifted count would
    },
    state: async () => ({
      counts: Object.fromEntries(backend.counts),
      online: backend.onlineUsers(),
      rooms: Object.fromEntries([...backend.rooms].flatMap(([a, m]) => [...m].map(([u, n]) => [`${a}\n${u}`, n]))),
      published: published + backend.seq,
      roomsPublished: roomsPublished + backend.roomSeq,
    }),
    dispose: async () => void (await Promise.all(stores.map((s) => s.close()))),
  };
}

describe('presence model', () => {
  const memoryRuns = RUNS || 300;
  it(`memory twin matches the model (${memoryRuns} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: STEPS || 40, size: 'max' }), async (ops) => run(await memoryCluster(), ops)),
      { numRuns: memoryRuns },
    );
  }, timeoutFor(memoryRuns, 4));

  describe('redis', () => {
    let server: RedisServer;
    let redis: Redis;
    let subscriber: Redis;
    beforeAll(async () => {
      server = await startRedis();
      redis = new Redis(server.url);
      subscriber = new Redis(server.url);
    });
    afterAll(async () => {
      redis?.disconnect();
      subscriber?.disconnect();
      await server?.stop();
    });

    async function redisCluster(): Promise<Cluster> {
      const prefix = uniquePrefix('model');
      const [kCounts, kOnline, kSeq, kNodes, kRoomSeq, kNames, kActions] = [
        'presence:counts', 'online_users', 'presence:seq', 'presence:nodes', 'presence:room-seq', 'presence:names', 'actions',
      ].map((k) => `${prefix}${k}`);
      const roomKey = (action: string) => `${prefix}members:${action}`;
      // Every key the scripts write here: deleted by name, never by a keyspace scan.
      const allKeys = [
        kCounts, kOnline, kSeq, kNodes, kRoomSeq, kNames, kActions, ...ACTIONS.map(roomKey), ...ACTIONS.map((a) => `${prefix}member-names:${a}`),
        ...NODES.flatMap((id) => ['', ':usernames', ':members'].map((s) => `${prefix}presence:node:${id}${s}`)),
      ];
      const make = (nodeId: string, leaseMs: number) => new RedisPresenceStore({ redis, subscriber, prefix, nodeId, leaseMs });
      const stores = await startAll(NODES.map((id) => make(id, LEASE)));
      let published = 0;
      let roomsPublished = 0;
      return {
        stores,
        async expire(i) {
          // The lease as if it ran out long ago (reap compares it with Redis TIME).
          expect(await redis.zadd(kNodes, 'XX', 'CH', 1, NODES[i])).toBe(1);
        },
        async wipe() {
          published += Number((await redis.get(kSeq)) ?? 0);
          roomsPublished += Number((await redis.get(kRoomSeq)) ?? 0);
          await redis.del(...allKeys);
        },
        async setCount(user, n) {
          await (n > 0 ? redis.hset(kCounts, user, n) : redis.hdel(kCounts, user));
        },
        async setOnline(user, online) {
          await (online ? redis.sadd(kOnline, user) : redis.srem(kOnline, user));
        },
        async setRoom(action, user, n) {
          await (n > 0 ? redis.hset(roomKey(action), user, n) : redis.hdel(roomKey(action), user));
          if (n > 0) await redis.zadd(kActions, 1, action); // the action stays listed, as a drifted count would
        },
        async state() {
          let tx = redis.multi().hgetall(kCounts).smembers(kOnline).get(kSeq).get(kRoomSeq);
          for (const a of ACTIONS) tx = tx.hgetall(roomKey(a));
          const [counts, online, seq, roomSeq, ...rooms] = (await tx.exec())!.map(([err, v]) => {
            if (err) throw err;
            return v;
          }) as [Record<string, string>, string[], string | null, string | null, ...Array<Record<string, string>>];
          const parsed = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
          const roomCounts = Object.fromEntries(rooms.flatMap((m, i) => Object.entries(m).map(([u, n]) => [`${ACTIONS[i]}\n${u}`, Number(n)])));
          return { counts: parsed, online, rooms: roomCounts, published: published + Number(seq ?? 0), roomsPublished: roomsPublished + Number(roomSeq ?? 0) };
        },
        async dispose() {
          await Promise.all(stores.map((s) => s.close()));
          await redis.del(...allKeys);
        },
      };
    }

    const redisRuns = RUNS || 80;
    it(`Redis store matches the model (${redisRuns} runs)`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { maxLength: STEPS || 30, size: 'max' }), async (ops) => run(await redisCluster(), ops)),
        { numRuns: redisRuns },
      );
    }, timeoutFor(redisRuns, 40));
  });
});
