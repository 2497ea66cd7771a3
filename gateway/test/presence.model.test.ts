/**
 * Model-based check of the presence store: three nodes run random sequences of connects,
 * disconnects (repeated ones included), crashes settled by another node's reap, re-syncs,
 * restarts under the same node id (sync with an empty account)
 * and (memory only) store wipes. After every step the stored counters, the online set and
 * the online set rebuilt from the event stream must equal a plain model: per node, the
 * connections it holds. Runs: memory 300 x <=40 steps, Redis 80 x <=30 steps, about 3 s
 * together here; raise numRuns locally when changing the scripts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { NodeAccount, PresenceEvent } from '../src/presence/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../src/presence/memory.js';
import { RedisPresenceStore } from '../src/presence/redis.js';
import { startRedis, type RedisServer } from './harness/redis.js';
import { uniquePrefix, waitFor } from './harness/wait.js';

type Store = MemoryPresenceStore | RedisPresenceStore;
const NODES = ['n0', 'n1', 'n2'];
const USERS = ['u0', 'u1', 'u2', 'u3'];
const LEASE = 60_000;

interface Cluster {
  stores: Store[];
  /** Lets node i's lease run out (its store stays usable, as a restarted process would be). */
  expire(i: number): Promise<void>;
  wipe?(): Promise<void>;
  counts(): Promise<Record<string, number>>;
  online(): Promise<string[]>;
  seq(): Promise<number>;
  dispose(): Promise<void>;
}

type Op =
  | { kind: 'connect' | 'disconnect'; node: number; user: number }
  | { kind: 'crash'; node: number; reaper: number }
  | { kind: 'sync' | 'restart'; node: number }
  | { kind: 'wipe' };

const nodeArb = fc.integer({ min: 0, max: NODES.length - 1 });
const userArb = fc.integer({ min: 0, max: USERS.length - 1 });
function opArb(withWipe: boolean): fc.Arbitrary<Op> {
  const ops: fc.WeightedArbitrary<Op>[] = [
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('connect' as const), node: nodeArb, user: userArb }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), node: nodeArb, user: userArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), node: nodeArb, reaper: fc.integer({ min: 1, max: NODES.length - 1 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('sync' as const, 'restart' as const), node: nodeArb }) },
  ];
  if (withWipe) ops.push({ weight: 1, arbitrary: fc.constant({ kind: 'wipe' as const }) });
  return fc.oneof(...ops);
}

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

async function step(c: Cluster, model: Model, op: Op): Promise<void> {
  if (op.kind === 'connect' || op.kind === 'disconnect') {
    const user = USERS[op.user];
    const mine = model.local[op.node];
    const before = model.total(user);
    if (op.kind === 'connect') {
      const { wentOnline } = await c.stores[op.node].connect(user, `name-${user}`, 2);
      mine.set(user, (mine.get(user) ?? 0) + 1);
      expect(wentOnline).toBe(before === 0);
      return;
    }
    const { wentOffline } = await c.stores[op.node].disconnect(user, `name-${user}`, `${NODES[op.node]}:1`, []);
    const held = mine.get(user) ?? 0;
    if (held > 1) mine.set(user, held - 1);
    else mine.delete(user);
    expect(wentOffline).toBe(held > 0 && before === 1);
  } else if (op.kind === 'crash') {
    const reaper = (op.node + op.reaper) % NODES.length;
    await c.expire(op.node);
    expect(await c.stores[reaper].reap()).toEqual([NODES[op.node]]);
    model.local[op.node].clear();
    expect(await c.stores[op.node].refreshLease()).toBe('lost');
    await c.stores[op.node].sync(model.account(op.node));
  } else if (op.kind === 'sync') {
    await c.stores[op.node].sync(model.account(op.node));
  } else if (op.kind === 'restart') {
    model.local[op.node].clear();
    await c.stores[op.node].sync(model.account(op.node));
  } else if (c.wipe) {
    await c.wipe();
    for (const [i, store] of c.stores.entries()) {
      expect(await store.refreshLease()).toBe('lost');
      await store.sync(model.account(i));
    }
  }
}

/** Folds the event stream of node 0 into an online set. */
function observe(store: Store): { online: Set<string>; last: () => number } {
  const online = new Set<string>();
  let last = 0;
  store.onEvent((e: PresenceEvent) => {
    last = e.seq;
    for (const ch of e.changes) if (ch.status === 'online') online.add(ch.userId);
    else online.delete(ch.userId);
  });
  return { online, last: () => last };
}

async function run(c: Cluster, ops: Op[]): Promise<void> {
  const model = new Model();
  const seen = observe(c.stores[0]);
  try {
    for (const op of ops) {
      await step(c, model, op);
      expect(await c.counts()).toEqual(model.counts());
      expect((await c.online()).sort()).toEqual(Object.keys(model.counts()).sort());
      const seq = await c.seq();
      await waitFor('events to catch up', () => seq === 0 || seen.last() === seq, 5_000, 2);
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
  const backend = createMemoryPresenceBackend({ now: () => clock });
  const stores = await startAll(NODES.map((id) => new MemoryPresenceStore(backend, id, { leaseMs: LEASE })));
  return {
    stores,
    async expire(i) {
      clock += 1;
      backend.leases.set(NODES[i], clock - 1);
    },
    async wipe() {
      backend.reset();
    },
    counts: async () => Object.fromEntries(backend.counts),
    online: async () => backend.onlineUsers(),
    seq: async () => backend.seq,
    dispose: async () => void (await Promise.all(stores.map((s) => s.close()))),
  };
}

describe('presence model', () => {
  it('memory twin matches the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb(true), { maxLength: 40, size: 'max' }), async (ops) => run(await memoryCluster(), ops)),
      { numRuns: 300 },
    );
  });

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
      const make = (nodeId: string, leaseMs: number) => new RedisPresenceStore({ redis, subscriber, prefix, nodeId, leaseMs });
      const stores = await startAll(NODES.map((id) => make(id, LEASE)));
      const now = async () => {
        const [sec, usec] = await redis.time();
        return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
      };
      return {
        stores,
        async expire(i) {
          // A 1 ms lease written by the same node id: the lease runs out almost at once.
          await make(NODES[i], 1).refreshLease();
          const score = Number(await redis.zscore(`${prefix}presence:nodes`, NODES[i]));
          await waitFor('lease to run out', async () => (await now()) > score, 2_000, 1);
        },
        async counts() {
          const raw = await redis.hgetall(`${prefix}presence:counts`);
          return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
        },
        online: () => redis.smembers(`${prefix}online_users`),
        seq: async () => Number((await redis.get(`${prefix}presence:seq`)) ?? 0),
        dispose: async () => void (await Promise.all(stores.map((s) => s.close()))),
      };
    }

    it('Redis store matches the model', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb(false), { maxLength: 30, size: 'max' }), async (ops) => run(await redisCluster(), ops)),
        { numRuns: 80 },
      );
    });
  });
});
