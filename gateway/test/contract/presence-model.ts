/**
 * The presence model check's machinery (see presence.model.test.ts for what it checks): the
 * random operations, the plain model, and the run that compares a store with it after every
 * step. Each test file supplies its Cluster (a store implementation and its raw state).
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import type { DriftRepair, NodeAccount, PresenceEvent, PresenceStore, RoomEvent } from '../../src/presence/types.js';

export type Store = PresenceStore;
export const NODES = ['n0', 'n1', 'n2'];
export const USERS = ['u0', 'u1', 'u2', 'u3'];
export const ACTIONS = ['a0', 'a1'];
export const LEASE = 60_000;
const LIMIT = 3;
const envInt = (name: string) => Math.max(0, Math.floor(Number(process.env[name]) || 0));
export const RUNS = envInt('PRESENCE_MODEL_RUNS');
export const STEPS = envInt('PRESENCE_MODEL_STEPS');

export interface Cluster {
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
export const opArb: fc.Arbitrary<Op> = fc.oneof(
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

export async function run(c: Cluster, ops: Op[]): Promise<void> {
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

export async function startAll(stores: Store[]): Promise<Store[]> {
  for (const s of stores) {
    await s.start();
    await s.sync({ users: new Map(), memberships: new Map() });
  }
  return stores;
}

/** The property's timeout: about 4 ms a run for memory and 40 ms for Redis at the default step count, doubled. */
export const timeoutFor = (runs: number, msPerRun: number) => 30_000 + runs * msPerRun * 2;

/** The random operation sequences a run takes (at most `maxSteps` steps). */
export const opsArb = (maxSteps: number) => fc.array(opArb, { maxLength: STEPS || maxSteps, size: 'max' });
