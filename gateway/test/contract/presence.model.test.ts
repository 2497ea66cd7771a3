/**
 * Model-based check of the presence store: three nodes run random sequences of connects
 * (some under a per-user limit), disconnects (repeated ones included), crashes settled by
 * another node's reap, re-syncs, restarts under the same node id (sync with an empty
 * account), store wipes (Redis: every key of the test's prefix deleted, which is what the
 * scripts see after a restart without persistence), audits of a healthy store, and drift
 * injected by hand followed by an audit. After every step the stored counters (never
 * negative), the online set and the online set rebuilt from the event stream must equal a
 * plain model: per node, the connections it holds.
 *
 * Runs: PRESENCE_MODEL_RUNS (default 300 memory, 80 Redis) per implementation, each a
 * sequence of at most PRESENCE_MODEL_STEPS steps (default 40 memory, 30 Redis).
 * The long configuration: PRESENCE_MODEL_RUNS=10000 (see the report for timings).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { DriftRepair, NodeAccount, PresenceEvent } from '../../src/presence/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';

type Store = MemoryPresenceStore | RedisPresenceStore;
const NODES = ['n0', 'n1', 'n2'];
const USERS = ['u0', 'u1', 'u2', 'u3'];
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
  /** Stored counters, online set, and events published since the cluster was made. */
  state(): Promise<{ counts: Record<string, number>; online: string[]; published: number }>;
  dispose(): Promise<void>;
}

type Drift = { kind: 'count'; value: number } | { kind: 'stray' | 'drop' };
type Op =
  | { kind: 'connect'; node: number; user: number; limited: boolean }
  | { kind: 'disconnect'; node: number; user: number }
  | { kind: 'crash'; node: number; reaper: number }
  | { kind: 'sync' | 'restart' | 'audit'; node: number }
  | { kind: 'drift'; node: number; user: number; drift: Drift }
  | { kind: 'wipe' };

const nodeArb = fc.integer({ min: 0, max: NODES.length - 1 });
const userArb = fc.integer({ min: 0, max: USERS.length - 1 });
const driftArb: fc.Arbitrary<Drift> = fc.oneof(
  fc.record({ kind: fc.constant('count' as const), value: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constantFrom('stray' as const, 'drop' as const) }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('connect' as const), node: nodeArb, user: userArb, limited: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), node: nodeArb, user: userArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: nodeArb, reaper: fc.integer({ min: 1, max: NODES.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('sync' as const, 'restart' as const, 'audit' as const), node: nodeArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drift' as const), node: nodeArb, user: userArb, drift: driftArb }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wipe' as const }) },
);

/** The model: connections each node holds, per user. */
class Model {
  readonly local = NODES.map(() => new Map<string, number>());
  total(user: string): number {
    return this.local.reduce((sum, m) => sum + (m.get(user) ?? 0), 0);
  }
  counts(): Record<string, number> {
    return Object.fromEntries(USERS.map((u) => [u, this.total(u)]).filter(([, n]) => Number(n) > 0));
  }
  account(i: number): NodeAccount {
    return { users: new Map([...this.local[i]].map(([u, count]) => [u, { count, username: `name-${u}` }])), memberships: new Map() };
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
  const { wentOffline } = await c.stores[op.node].disconnect(user, `name-${user}`, `${NODES[op.node]}:1`, []);
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
  }
  expect(await c.stores[op.node].audit()).toEqual(expected);
}

async function step(c: Cluster, model: Model, op: Op): Promise<void> {
  if (op.kind === 'connect') return connectStep(c, model, op);
  if (op.kind === 'disconnect') return disconnectStep(c, model, op);
  if (op.kind === 'drift') return driftStep(c, model, op);
  if (op.kind === 'crash') {
    const reaper = (op.node + op.reaper) % NODES.length;
    await c.expire(op.node);
    expect(await c.stores[reaper].reap()).toEqual([NODES[op.node]]);
    model.local[op.node].clear();
    expect(await c.stores[op.node].refreshLease()).toBe('lost');
    await c.stores[op.node].sync(model.account(op.node));
  } else if (op.kind === 'audit') {
    expect(await c.stores[op.node].audit()).toEqual([]);
  } else if (op.kind === 'sync' || op.kind === 'restart') {
    if (op.kind === 'restart') model.local[op.node].clear();
    await c.stores[op.node].sync(model.account(op.node));
  } else {
    await c.wipe();
    for (const [i, store] of c.stores.entries()) {
      expect(await store.refreshLease()).toBe('lost');
      await store.sync(model.account(i));
    }
  }
}

/** Folds the event stream of one node into an online set; `until(n)` waits for the n-th event. */
function observe(store: Store) {
  const online = new Set<string>();
  let received = 0;
  let wake = () => {};
  store.onEvent((e: PresenceEvent) => {
    received += 1;
    for (const ch of e.changes) if (ch.status === 'online') online.add(ch.userId);
    else online.delete(ch.userId);
    wake();
  });
  const until = async (n: number, timeoutMs = 5000) => {
    const deadline = Date.now() + timeoutMs;
    while (received < n && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now());
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    expect(received, 'events received (no loss, no duplicates)').toBe(n);
  };
  return { online, until };
}

async function run(c: Cluster, ops: Op[]): Promise<void> {
  const model = new Model();
  const seen = observe(c.stores[0]);
  try {
    for (const op of ops) {
      await step(c, model, op);
      const { counts, online, published } = await c.state();
      expect(Object.values(counts).filter((n) => !(n > 0)), 'counters <= 0').toEqual([]);
      expect(counts).toEqual(model.counts());
      expect(online.sort()).toEqual(Object.keys(model.counts()).sort());
      await seen.until(published);
      expect([...seen.online].sort()).toEqual(Object.keys(model.counts()).sort());
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
    state: async () => ({ counts: Object.fromEntries(backend.counts), online: backend.onlineUsers(), published: published + backend.seq }),
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
      const [kCounts, kOnline, kSeq, kNodes] = ['presence:counts', 'online_users', 'presence:seq', 'presence:nodes'].map((k) => `${prefix}${k}`);
      // Every key the scripts write here (no action is joined): deleted by name, never by a keyspace scan.
      const allKeys = [kCounts, kOnline, kSeq, kNodes, ...NODES.flatMap((id) => ['', ':usernames', ':members'].map((s) => `${prefix}presence:node:${id}${s}`))];
      const make = (nodeId: string, leaseMs: number) => new RedisPresenceStore({ redis, subscriber, prefix, nodeId, leaseMs });
      const stores = await startAll(NODES.map((id) => make(id, LEASE)));
      let published = 0;
      return {
        stores,
        async expire(i) {
          // The lease as if it ran out long ago (reap compares it with Redis TIME).
          expect(await redis.zadd(kNodes, 'XX', 'CH', 1, NODES[i])).toBe(1);
        },
        async wipe() {
          published += Number((await redis.get(kSeq)) ?? 0);
          await redis.del(...allKeys);
        },
        async setCount(user, n) {
          await (n > 0 ? redis.hset(kCounts, user, n) : redis.hdel(kCounts, user));
        },
        async setOnline(user, online) {
          await (online ? redis.sadd(kOnline, user) : redis.srem(kOnline, user));
        },
        async state() {
          const [counts, online, seq] = (await redis.multi().hgetall(kCounts).smembers(kOnline).get(kSeq).exec())!.map(([err, v]) => {
            if (err) throw err;
            return v;
          }) as [Record<string, string>, string[], string | null];
          const parsed = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
          return { counts: parsed, online, published: published + Number(seq ?? 0) };
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
