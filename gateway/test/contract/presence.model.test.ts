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
import type { DriftRepair, NodeAccount, PresenceEvent, RoomEvent } from '../../src/presence/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';

type Store = MemoryPresenceStore | RedisPresenceStore;
const NODES = ['n0', 'n1', 'n2'];
const USERS = ['u0', 'u1', 'u2', 'u3'];
const ACTIONS = ['a0', 'a1'];
const LEASE = 60_000;
const LIMIT = 3;
const envInt = (name: string) => Math.max(0, Math.floor(Number(process.env[name]) || 0));
const RUNS = envInt('PRESENCE_MODEL_RUNS');
const STEPS = envInt('PRESENCE_MODEL_STEPS');

interface Cluster {
  stores: Store[];
  /** Lets node i's lease run out (its store stays usable, as a restarted process would be). */
  expire(i: number): Promise<void>;
  /** The store loses everything. */
  wipe(): Promise<void>;
  /** Drift by hand: the stored counter (absent when 0) or the online_users membership alone. */
  setCount(user: string, n: number): Promise<void>;
  setOnline(user: string, online: boolean): Promise<void>;
  /** Drift by hand: a user's stored count in a room (absent when 0). */
  setRoom(action: string, user: string, n: number): Promise<void>;
  /** Stored counters, online set, rooms ("action\nuser" -> count), and events published since the cluster was made. */
  state(): Promise<{ counts: Record<string, number>; online: string[]; rooms: Record<string, number>; published: number; roomsPublished: number }>;
  dispose(): Promise<void>;
}

type Drift = { kind: 'count'; value: number } | { kind: 'stray' | 'drop' } | { kind: 'room'; action: number; value: number };
type Op =
  | { kind: 'connect'; node: number; user: number; limited: boolean }
  | { kind: 'disconnect'; node: number; user: number }
  | { kind: 'crash'; node: number; reaper: number }
  | { kind: 'sync' | 'restart' | 'audit'; node: number }
  | { kind: 'drift'; node: number; user: number; drift: Drift }
  | { kind: 'join' | 'leave'; node: number; user: number; action: number; conn: number }
  | { kind: 'wipe' };

const nodeArb = fc.integer({ min: 0, max: NODES.length - 1 });
const userArb = fc.integer({ min: 0, max: USERS.length - 1 });
const driftArb: fc.Arbitrary<Drift> = fc.oneof(
  fc.record({ kind: fc.constant('count' as const), value: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constantFrom('stray' as const, 'drop' as const) }),
  fc.record({ kind: fc.constant('room' as const), action: fc.integer({ min: 0, max: ACTIONS.length - 1 }), value: fc.integer({ min: 0, max: 3 }) }),
);
const memberArb = fc.record({
  node: nodeArb, user: userArb, action: fc.integer({ min: 0, max: ACTIONS.length - 1 }), conn: fc.integer({ min: 0, max: 1 }),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('connect' as const), node: nodeArb, user: userArb, limited: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), node: nodeArb, user: userArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: nodeArb, reaper: fc.integer({ min: 1, max: NODES.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('sync' as const, 'restart' as const, 'audit' as const), node: nodeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), node: nodeArb, user: userArb, drift: driftArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wipe' as const }) },
  { weight: 3, arbitrary: memberArb.map((m) => ({ kind: 'join' as const, ...m })) },
  { weight: 2, arbitrary: memberArb.map((m) => ({ kind: 'leave' as const, ...m })) },
);

/** The connection a membership op uses: connection `k` of `user` on node `node`; disconnects close connection 0. */
const connOf = (node: number, user: string, k: number) => `${NODES[node]}:${user}:${k}`;

/** The model: connections each node holds, per user; memberships each node holds ("action\nuser\nconn"). */
class Model {
  readonly local = NODES.map(() => new Map<string, number>());
  readonly members = NODES.map(() => new Set<string>());
  rooms(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const set of this.members) for (const entry of set) {
      const key = entry.slice(0, entry.lastIndexOf('\n'));
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }
  total(user: string): number {
    return this.local.reduce((sum, m) => sum + (m.get(user) ?? 0), 0);
  }
  counts(): Record<string, number> {
    return Object.fromEntries(USERS.map((u) => [u, this.total(u)]).filter(([, n]) => Number(n) > 0));
  }
  account(i: number): NodeAccount {
    const memberships: NodeAccount['memberships'] = new Map();
    for (const entry of this.members[i]) {
      const [action, userId, conn] = entry.split('\n');
      const m = memberships.get(conn) ?? { userId, actions: new Set<string>() };
      m.actions.add(action);
      memberships.set(conn, m);
    }
    return { users: new Map([...this.local[i]].map(([u, count]) => [u, { count, username: `name-${u}` }])), memberships };
  }
  clear(i: number): void {
    this.local[i].clear();
    this.members[i].clear();
  }
}

async function connectStep(c: Cluster, model: Model, op: Extract<Op, { kind: 'connect' }>): Promise<void> {
  const user = USERS[op.user];
  const before = model.total(user);
  const { wentOnline, refused } = await c.stores[op.node].connect(user, `name-${user}`, 2, op.limited ? LIMIT : 0);
  expect(refused).toBe(op.limited && before >= LIMIT);
  expect(wentOnline).toBe(before === 0);
  if (!refused) model.local[op.node].set(user, (model.local[op.node].get(user) ?? 0) + 1);
}

async function disconnectStep(c: Cluster, model: Model, op: Extract<Op, { kind: 'disconnect' }>): Promise<void> {
  const user = USERS[op.user];
  const mine = model.local[op.node];
  const before = model.total(user);
  const conn = connOf(op.node, user, 0);
  const actions = ACTIONS.filter((a) => model.members[op.node].delete(`${a}\n${user}\n${conn}`));
  const { wentOffline } = await c.stores[op.node].disconnect(user, `name-${user}`, conn, actions);
  const held = mine.get(user) ?? 0;
  if (held > 1) mine.set(user, held - 1);
  else mine.delete(user);
  expect(wentOffline).toBe(held > 0 && before === 1);
}

/** Injects one drift by hand, audits on `op.node`, and checks the audit repaired exactly it. */
async function driftStep(c: Cluster, model: Model, op: Extract<Op, { kind: 'drift' }>): Promise<void> {
  const user = USERS[op.user];
  const total = model.total(user);
  let expected: DriftRepair[] = [];
  if (op.drift.kind === 'count') {
    await c.setCount(user, op.drift.value);
    if (op.drift.value !== total) expected = [{ userId: user, expected: total, found: op.drift.value }];
  } else if (op.drift.kind === 'stray' && total === 0) {
    await c.setOnline(user, true);
    expected = [{ userId: user, expected: 0, found: 0 }];
  } else if (op.drift.kind === 'drop' && total > 0) {
    await c.setOnline(user, false);
    expected = [{ userId: user, expected: total, found: total }];
  } else if (op.drift.kind === 'room') {
    const action = ACTIONS[op.drift.action];
    const want = model.rooms()[`${action}\n${user}`] ?? 0;
    await c.setRoom(action, user, op.drift.value);
    if (op.drift.value !== want) expected = [{ userId: user, expected: want, found: op.drift.value, action }];
  }
  expect(await c.stores[op.node].audit()).toEqual(expected);
}

async function step(c: Cluster, model: Model, op: Op): Promise<void> {
  if (op.kind === 'connect') return connectStep(c, model, op);
  if (op.kind === 'disconnect') return disconnectStep(c, model, op);
  if (op.kind === 'drift') return driftStep(c, model, op);
  if (op.kind === 'join' || op.kind === 'leave') {
    const user = USERS[op.user];
    const conn = connOf(op.node, user, op.conn);
    const entry = `${ACTIONS[op.action]}\n${user}\n${conn}`;
    if (op.kind === 'join') model.members[op.node].add(entry);
    else model.members[op.node].delete(entry);
    await c.stores[op.node][op.kind](ACTIONS[op.action], conn, user, `name-${user}`);
    return;
  }
  if (op.kind === 'crash') {
    const reaper = (op.node + op.reaper) % NODES.length;
    await c.expire(op.node);
    expect(await c.stores[reaper].reap()).toEqual([NODES[op.node]]);
    model.clear(op.node);
    expect((await c.stores[op.node].refreshLease()).lost).toBe(true);
    await c.stores[op.node].sync(model.account(op.node));
  } else if (op.kind === 'audit') {
    expect(await c.stores[op.node].audit()).toEqual([]);
  } else if (op.kind === 'sync' || op.kind === 'restart') {
    if (op.kind === 'restart') model.clear(op.node);
    await c.stores[op.node].sync(model.account(op.node));
  } else {
    await c.wipe();
    for (const [i, store] of c.stores.entries()) {
      expect((await store.refreshLease()).lost).toBe(true);
      await store.sync(model.account(i));
    }
  }
}

/**
 * Folds the event streams of one node into an online set and the rooms' member sets;
 * `until(n, m)` waits for the n-th presence and m-th room event.
 */
function observe(store: Store) {
  const online = new Set<string>();
  const rooms = new Set<string>();
  let received = 0;
  let roomsReceived = 0;
  let wake = () => {};
  store.onEvent((e: PresenceEvent) => {
    received += 1;
    for (const ch of e.changes) if (ch.status === 'online') online.add(ch.userId);
    else online.delete(ch.userId);
    wake();
  });
  store.onRoomEvent((e: RoomEvent) => {
    roomsReceived += 1;
    for (const ch of e.changes) if (ch.status === 'joined') rooms.add(`${e.action}\n${ch.userId}`);
    else rooms.delete(`${e.action}\n${ch.userId}`);
    wake();
  });
  const until = async (n: number, m: number, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while ((received < n || roomsReceived < m) && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    expect(received, 'events received (no loss, no duplicates)').toBe(n);
    expect(roomsReceived, 'room events received (no loss, no duplicates)').toBe(m);
  };
  return { online, rooms, until };
}

async function run(c: Cluster, ops: Op[]): Promise<void> {
  const model = new Model();
  const seen = observe(c.stores[0]);
  for (const action of ACTIONS) await c.stores[0].watchRoom(action);
  try {
    for (const op of ops) {
      await step(c, model, op);
      const { counts, online, rooms, published, roomsPublished } = await c.state();
      expect(Object.values(counts).filter((n) => !(n > 0)), 'counters <= 0').toEqual([]);
      expect(counts).toEqual(model.counts());
      expect(online.sort()).toEqual(Object.keys(model.counts()).sort());
      expect(rooms).toEqual(model.rooms());
      await seen.until(published, roomsPublished);
      expect([...seen.online].sort()).toEqual(Object.keys(model.counts()).sort());
      expect([...seen.rooms].sort()).toEqual(Object.keys(model.rooms()).sort());
    }
  } finally {
    await c.dispose();
  }
}

async function startAll(stores: Store[]): Promise<Store[]> {
  for (const s of stores) {
    await s.start();
    await s.sync({ users: new Map(), memberships: new Map() });
  }
  return stores;
}

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

/** The property's timeout: about 4 ms a run for memory and 40 ms for Redis at the default step count, doubled. */
const timeoutFor = (runs: number, msPerRun: number) => 30_000 + runs * msPerRun * 2;

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
        kCounts, kOnline, kSeq, kNodes, kRoomSeq, kNames, kActions, ...ACTIONS.map(roomKey),
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
