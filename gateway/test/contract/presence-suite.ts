/**
 * The presence store contract: one specification, run by presence.contract.test.ts on the
 * memory twin and one real redis-server, and by presence.cluster.test.ts on a real
 * three-primary Redis Cluster (a hash-tagged prefix: one partition, every key in one slot).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { CursorError, type NodeAccount, type PresenceEvent, type PresenceStore, type RoomEvent } from '../../src/presence/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import type { RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';

type Store = PresenceStore;

/** A fresh, empty presence store shared by any number of nodes. */
interface Cluster {
  /** A started node, registered with an empty account (as a gateway does at start). */
  node(id: string, leaseMs?: number): Promise<Store>;
  /** Resolves once `nodeId`'s lease has run out by the store's clock. */
  untilExpired(nodeId: string): Promise<void>;
  /** The store loses everything (Redis restart) and clients are usable again. */
  wipe(): Promise<void>;
  /** Cluster-wide counters as stored. */
  counts(): Promise<Record<string, number>>;
  /** Drift by hand: write the stored counter (absent when undefined) or online_users membership alone. */
  setCount(userId: string, n: number | undefined): Promise<void>;
  setOnline(userId: string, online: boolean): Promise<void>;
  /** Drift by hand in a room: the user's stored count there (absent when undefined). */
  setRoom(action: string, userId: string, n: number | undefined): Promise<void>;
  dispose(): Promise<void>;
}

const LONG_LEASE = 60_000;
const SHORT_LEASE = 300;

export function memoryCluster(): Promise<Cluster> {
  let clock = 1_000_000;
  const backend = createMemoryPresenceBackend({ now: () => clock });
  const stores: Store[] = [];
  return Promise.resolve({
    async node(id, leaseMs = LONG_LEASE) {
      const store = new MemoryPresenceStore(backend, id, { leaseMs });
      stores.push(store);
      await store.start();
      await store.sync(emptyAccount());
      return store;
    },
    async untilExpired(nodeId) {
      clock = Math.max(clock, (backend.leases.get(nodeId) ?? clock) + 1);
    },
    async wipe() {
      backend.reset();
    },
    async counts() {
      return withoutBarriers(Object.fromEntries(backend.counts));
    },
    async setCount(userId, n) {
      if (n === undefined) backend.counts.delete(userId);
      else backend.counts.set(userId, n);
    },
    async setRoom(action, userId, n) {
      const room = backend.rooms.get(action) ?? new Map<string, number>();
      if (n === undefined) room.delete(userId);
      else room.set(userId, n);
      backend.rooms.set(action, room);
      backend.actions.set(action, room.size);
    },
    async setOnline(userId, online) {
      if (online) backend.online.add(userId);
      else backend.online.delete(userId);
    },
    async dispose() {
      await Promise.all(stores.map((s) => s.close()));
    },
  });
}

/** Where the Redis variant runs: one redis-server, or a Redis Cluster with a hash-tagged prefix. */
export interface RedisBackend {
  /** A new connection (commands or a subscriber). */
  client(): Redis;
  /** The store loses everything (a restart without persistence) and `clients` are ready again. */
  restartEmpty(clients: Redis[]): Promise<void>;
  /** Subscribers of a classic channel, over every server. */
  numsub(channel: string): Promise<number>;
  prefix(): string;
}

/** One redis-server: the store's own connections, restarted by stopping the server. */
export function serverBackend(server: () => RedisServer): () => RedisBackend {
  return () => {
    const probe = new Redis(server().url);
    probe.on('error', () => {});
    return {
      client() {
        const c = new Redis(server().url);
        c.on('error', () => {});
        return c;
      },
      async restartEmpty(clients) {
        await server().stop();
        await server().start();
        await waitFor('clients to reconnect', () => [...clients, probe].every((c) => c.status === 'ready'), 10_000);
      },
      async numsub(channel) {
        const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
        return Number(n);
      },
      prefix: () => uniquePrefix('presence'),
    };
  };
}

export function redisCluster(backendOf: () => RedisBackend): () => Promise<Cluster & { prefix: string }> {
  return async () => {
    const backend = backendOf();
    const prefix = backend.prefix();
    const clients: Redis[] = [];
    const client = () => {
      const c = backend.client();
      clients.push(c);
      return c;
    };
    const stores: Store[] = [];
    const probe = client();
    return {
      prefix,
      async node(nodeId, leaseMs = LONG_LEASE) {
        const store = new RedisPresenceStore({ redis: client(), subscriber: client(), prefix, nodeId, leaseMs });
        stores.push(store);
        await store.start();
        await store.sync(emptyAccount());
        return store;
      },
      async untilExpired(nodeId) {
        await waitFor(`lease of ${nodeId} to expire`, async () => {
          const [score, [sec, usec]] = await Promise.all([probe.zscore(`${prefix}presence:nodes`, nodeId), probe.time()]);
          return score !== null && Number(score) < Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
        }, 5_000);
      },
      async wipe() {
        await backend.restartEmpty(clients);
        const subscribers = stores.length;
        await waitFor('subscribers to resubscribe', async () => (await backend.numsub(`${prefix}presence`)) === subscribers, 10_000);
      },
      async counts() {
        const raw = await probe.hgetall(`${prefix}presence:counts`);
        return withoutBarriers(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)])));
      },
      async setCount(userId, n) {
        if (n === undefined) await probe.hdel(`${prefix}presence:counts`, userId);
        else await probe.hset(`${prefix}presence:counts`, userId, n);
      },
      async setOnline(userId, online) {
        if (online) await probe.sadd(`${prefix}online_users`, userId);
        else await probe.srem(`${prefix}online_users`, userId);
      },
      async setRoom(action, userId, n) {
        if (n === undefined) await probe.hdel(`${prefix}members:${action}`, userId);
        else await probe.hset(`${prefix}members:${action}`, userId, n);
        await probe.zadd(`${prefix}actions`, 1, action);
      },
      async dispose() {
        await Promise.all(stores.map((s) => s.close()));
        for (const c of clients) c.disconnect();
      },
    };
  };
}

function emptyAccount(): NodeAccount {
  return { users: new Map(), memberships: new Map() };
}

/** Every event `store` receives, in arrival order. */
export function record(store: Store): PresenceEvent[] {
  const events: PresenceEvent[] = [];
  store.onEvent((e) => events.push(e));
  return events;
}

let barriers = 0;
/** Counters without the users `drain` brought online. */
function withoutBarriers(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([id]) => !id.startsWith('barrier-')));
}

/**
 * Resolves once every event published before this call has reached `events`: it publishes
 * one more (a barrier user goes online) and waits for it, since delivery is in seq order.
 */
export async function drain(store: Store, events: PresenceEvent[]): Promise<void> {
  const id = `barrier-${++barriers}`;
  const { snapshot } = await store.connect(id, id, 0);
  await waitFor(`barrier event ${snapshot.seq}`, () => events.some((e) => e.seq >= snapshot.seq));
  // Delivered once each, in seq order, no gaps (seq starts over at 1 when the store was wiped).
  events.forEach((e, i) => i > 0 && e.seq !== 1 && expect(e.seq).toBe(events[i - 1].seq + 1));
}

function sortById<T extends { userId: string }>(items: T[]): T[] {
  return [...items].sort((x, y) => x.userId.localeCompare(y.userId));
}

/** The user ids in `action`'s room, sorted (first page; tests stay under it). */
async function memberIds(store: Store, action: string): Promise<string[]> {
  return (await store.members(action, undefined, 100)).users.map((u) => u.id).sort();
}

/** Every room event `store` receives for the rooms it watches, in arrival order. */
function recordRooms(store: Store): RoomEvent[] {
  const events: RoomEvent[] = [];
  store.onRoomEvent((e) => events.push(e));
  return events;
}

/** `userId`'s joined/left transitions in `action`, in order. */
function roomTransitions(events: RoomEvent[], action: string, userId: string): string[] {
  return events.filter((e) => e.action === action).flatMap((e) => e.changes.filter((c) => c.userId === userId).map((c) => c.status));
}

/** `status` transitions of `userId` seen in `events`, in order. */
function transitions(events: PresenceEvent[], userId: string): string[] {
  return events.flatMap((e) => e.changes.filter((c) => c.userId === userId).map((c) => c.status));
}

export function presenceContract(name: string, makeCluster: () => Promise<Cluster>): void {
  describe(`PresenceStore contract: ${name}`, () => {
    let cluster: Cluster;
    const setup = async () => (cluster = await makeCluster());
    afterEach(async () => cluster?.dispose());

    it('keeps a user with tabs on two nodes online until the last one closes, one event per transition', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      expect((await a.connect('u1', 'ann', 10)).wentOnline).toBe(true);
      expect((await b.connect('u1', 'ann', 10)).wentOnline).toBe(false);
      expect((await a.connect('u1', 'ann', 10)).wentOnline).toBe(false);
      expect(await cluster.counts()).toMatchObject({ u1: 3 });
      expect((await a.disconnect('u1', 'ann', 'a:1', [])).wentOffline).toBe(false);
      expect((await a.disconnect('u1', 'ann', 'a:2', [])).wentOffline).toBe(false);
      expect(await a.isOnline(['u1'])).toEqual([true]);
      expect((await b.disconnect('u1', 'ann', 'b:1', [])).wentOffline).toBe(true);
      expect(await b.isOnline(['u1'])).toEqual([false]);
      await drain(b, events);
      expect(transitions(events, 'u1')).toEqual(['online', 'offline']);
      const change = events.flatMap((e) => e.changes).find((c) => c.userId === 'u1');
      expect(change).toMatchObject({ username: 'ann', status: 'online' });
      expect(typeof change?.ts).toBe('number');
    });

    it('never lets a counter go below zero on a repeated disconnect', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      await a.connect('u1', 'ann', 0);
      await b.connect('u1', 'ann', 0);
      await a.disconnect('u1', 'ann', 'a:1', []);
      expect((await a.disconnect('u1', 'ann', 'a:1', [])).wentOffline).toBe(false);
      expect(await cluster.counts()).toMatchObject({ u1: 1 });
      expect(await a.isOnline(['u1'])).toEqual([true]);
      await b.disconnect('u1', 'ann', 'b:1', []);
      await b.disconnect('u1', 'ann', 'b:1', []);
      expect((await cluster.counts()).u1).toBeUndefined();
      expect((await a.connect('u1', 'ann', 0)).wentOnline).toBe(true);
      expect(await cluster.counts()).toMatchObject({ u1: 1 });
      await drain(a, events);
      expect(transitions(events, 'u1')).toEqual(['online', 'offline', 'online']);
    });

    it('answers isOnline per id in order, and [] for no ids', async () => {
      await setup();
      const a = await cluster.node('a');
      await a.connect('u1', 'ann', 0);
      await a.connect('u3', 'cid', 0);
      expect(await a.isOnline(['u1', 'u2', 'u3', 'u1'])).toEqual([true, false, true, true]);
      expect(await a.isOnline([])).toEqual([]);
    });

    // Numeric ids make a small Redis set an intset, which SSCAN returns whole in one reply.
    it.each([
      ['string', (i: number) => `user-${i}`],
      ['numeric', (i: number) => String(1000 + i)],
    ])('takes a snapshot within the limit and pages the rest with online() (%s ids)', async (_, idOf) => {
      await setup();
      const a = await cluster.node('a');
      const ids = Array.from({ length: 30 }, (_, i) => idOf(i));
      for (const id of ids.slice(0, 29)) await a.connect(id, id, 0);
      const { snapshot } = await a.connect(ids[29], ids[29], 8);
      expect(snapshot.onlineCount).toBe(30);
      expect(snapshot.online.length).toBeLessThanOrEqual(8);
      expect(snapshot.cursor).toBeDefined();
      const seen = new Set(snapshot.online);
      let cursor = snapshot.cursor;
      for (let pages = 0; cursor !== undefined; pages++) {
        expect(pages).toBeLessThan(100);
        const page = await a.online(cursor, 8);
        expect(page.users.length).toBeLessThanOrEqual(8);
        page.users.forEach((u) => seen.add(u));
        cursor = page.cursor;
      }
      expect([...seen].sort()).toEqual([...ids].sort());

      const whole = (await a.connect(ids[0], 'again', 100)).snapshot;
      expect(whole.online.sort()).toEqual([...ids].sort());
      expect(whole.cursor).toBeUndefined();
      const none = (await a.connect(ids[1], 'again', 0)).snapshot;
      expect(none).toMatchObject({ online: [], onlineCount: 30, cursor: '0' });
      // A cursor this store did not hand out is the caller's mistake (CursorError), never a failure.
      for (const forged of ['not a cursor', '0:9999999999', '18446744073709551616']) {
        await expect(a.online(forged, 5), forged).rejects.toThrow(CursorError);
      }
    });

    it('gives each snapshot the seq of the last event it includes', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(b);
      await a.connect('u1', 'ann', 10);
      const { snapshot } = await b.connect('u2', 'bob', 10);
      expect(snapshot.online.sort()).toEqual(['u1', 'u2']);
      await a.connect('u3', 'cid', 10);
      await drain(a, events);
      const seqOf = (uid: string) => events.find((e) => e.changes.some((c) => c.userId === uid))?.seq;
      expect(seqOf('u2')).toBe(snapshot.seq);
      expect(seqOf('u1')).toBeLessThan(snapshot.seq);
      expect(seqOf('u3')).toBe(snapshot.seq + 1);
      // A snapshot after no transition carries the latest seq too.
      expect((await a.connect('u3', 'cid', 10)).snapshot.seq).toBe(events.at(-1)?.seq);
    });

    it('counts action members per user cluster-wide, idempotently per connection, and drops them on disconnect', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      await a.connect('u1', 'ann', 0);
      await b.connect('u2', 'bob', 0);
      await a.join('room/1', 'a:1', 'u1', 'ann');
      await a.join('room/2', 'a:1', 'u1', 'ann');
      await b.join('room/1', 'b:1', 'u2', 'bob');
      await b.join('room/1', 'b:1', 'u2', 'bob');
      expect(await memberIds(a, 'room/1')).toEqual(['u1', 'u2']);
      expect(await a.members('room/1', undefined, 100)).toMatchObject({ count: 2, users: expect.arrayContaining([{ id: 'u1', username: 'ann' }, { id: 'u2', username: 'bob' }]) });
      await b.leave('room/1', 'b:1', 'u2', 'bob');
      await b.leave('room/1', 'b:1', 'u2', 'bob');
      expect(await memberIds(a, 'room/1')).toEqual(['u1']);
      await a.disconnect('u1', 'ann', 'a:1', ['room/1', 'room/2']);
      expect(await memberIds(b, 'room/1')).toEqual([]);
      expect(await memberIds(b, 'room/2')).toEqual([]);
      expect(await b.members('never-joined', undefined, 10)).toMatchObject({ users: [], count: 0 });
    });

    it('keeps a user with tabs on two nodes in a room until the last leaves: one joined, one left, in order with a page\'s seq', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const [roomsA, roomsB] = [recordRooms(a), recordRooms(b)];
      await Promise.all([a.watchRoom('hall'), b.watchRoom('hall')]);
      await a.connect('u1', 'ann', 0);
      await b.connect('u1', 'ann', 0);
      await a.join('hall', 'a:1', 'u1', 'ann');
      const page = await b.members('hall', undefined, 10);
      await b.join('hall', 'b:1', 'u1', 'ann');
      await a.leave('hall', 'a:1', 'u1', 'ann');
      expect(await memberIds(a, 'hall')).toEqual(['u1']);
      await b.disconnect('u1', 'ann', 'b:1', ['hall']);
      expect(await memberIds(a, 'hall')).toEqual([]);
      for (const events of [roomsA, roomsB]) {
        await waitFor('the left event', () => roomTransitions(events, 'hall', 'u1').length === 2);
        expect(roomTransitions(events, 'hall', 'u1')).toEqual(['joined', 'left']);
        expect(events.flatMap((e) => e.changes)).toEqual([
          { userId: 'u1', username: 'ann', status: 'joined', ts: expect.any(Number) },
          { userId: 'u1', username: 'ann', status: 'left', ts: expect.any(Number) },
        ]);
      }
      // The page was taken after the joined event: only the left one is newer than it.
      expect(page).toMatchObject({ count: 1, users: [{ id: 'u1', username: 'ann' }] });
      expect(roomsA.filter((e) => e.seq > page.seq).flatMap((e) => e.changes.map((c) => c.status))).toEqual(['left']);
    });

    it('delivers room events only for watched rooms', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const rooms = recordRooms(a);
      await a.watchRoom('seen');
      await b.connect('u2', 'bob', 0);
      await b.join('unseen', 'b:1', 'u2', 'bob');
      await b.join('seen', 'b:1', 'u2', 'bob');
      await waitFor('the watched room', () => rooms.length === 1);
      await a.unwatchRoom('seen');
      await b.leave('seen', 'b:1', 'u2', 'bob');
      await a.watchRoom('fence');
      await b.join('fence', 'b:1', 'u2', 'bob');
      await waitFor('the fence', () => rooms.some((e) => e.action === 'fence'));
      expect(rooms.map((e) => e.action)).toEqual(['seen', 'fence']);
    });

    it('pages a room\'s members by cursor and refuses a cursor it did not hand out', async () => {
      await setup();
      const a = await cluster.node('a');
      for (let i = 0; i < 25; i += 1) {
        await a.connect(`m${i}`, `member${i}`, 0);
        await a.join('big', `a:${i}`, `m${i}`, `member${i}`);
      }
      const seen = new Set<string>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await a.members('big', cursor, 10);
        expect(page.count).toBe(25);
        expect(page.users.length).toBeLessThanOrEqual(10);
        for (const u of page.users) seen.add(u.id);
        cursor = page.cursor;
        pages += 1;
      } while (cursor !== undefined && pages < 20);
      expect(seen.size).toBe(25);
      await expect(a.members('big', 'nope', 10)).rejects.toThrow(CursorError);
    });

    it('keeps every page of a 10,000-member room bounded, and the walk complete', async () => {
      await setup();
      const a = await cluster.node('a');
      const N = 10_000;
      for (let i = 0; i < N; i += 500) {
        await Promise.all(Array.from({ length: 500 }, (_, j) => a.join('huge', `h:${i + j}`, `h${i + j}`, `h${i + j}`)));
      }
      const seen = new Set<string>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await a.members('huge', cursor, 100);
        expect(page.count).toBe(N);
        expect(page.users.length).toBeLessThanOrEqual(100);
        for (const u of page.users) seen.add(u.id);
        cursor = page.cursor;
        pages += 1;
      } while (cursor !== undefined && pages < 1000);
      expect(seen.size).toBe(N);
    });

    it('reports the size of this node\'s membership index with the lease', async () => {
      await setup();
      const a = await cluster.node('a');
      await a.connect('u1', 'ann', 0);
      await a.join('x', 'a:1', 'u1', 'ann');
      await a.join('y', 'a:1', 'u1', 'ann');
      await a.join('y', 'a:2', 'u1', 'ann');
      expect(await a.refreshLease()).toEqual({ lost: false, memberships: 3 });
    });

    it('refuses a connection past the per-user limit cluster-wide, changing and publishing nothing', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      expect(await a.connect('u1', 'ann', 10, 2)).toMatchObject({ wentOnline: true, refused: false });
      expect(await b.connect('u1', 'ann', 10, 2)).toMatchObject({ wentOnline: false, refused: false });
      await b.connect('u2', 'bob', 10, 2);
      const lastSeq = (await b.connect('u3', 'cid', 10, 2)).snapshot.seq;
      for (const node of [a, b]) {
        const refused = await node.connect('u1', 'ann', 10, 2);
        expect(refused).toEqual({ wentOnline: false, refused: true, snapshot: { seq: lastSeq, online: [], onlineCount: 3 } });
      }
      expect(await cluster.counts()).toEqual({ u1: 2, u2: 1, u3: 1 });
      expect((await a.connect('u1', 'ann', 10, 0)).refused).toBe(false); // 0 = unlimited
      expect((await a.connect('u1', 'ann', 10, 4)).refused).toBe(false);
      expect((await a.connect('u1', 'ann', 10, 4)).refused).toBe(true);
      await b.disconnect('u1', 'ann', 'b:1', []);
      expect((await b.connect('u1', 'ann', 10, 4)).refused).toBe(false);
      expect(await cluster.counts()).toMatchObject({ u1: 4 });
      // Closing everything still takes the user offline: refusals left nothing behind.
      for (const node of [a, a, a, b]) await node.disconnect('u1', 'ann', 'x', []);
      expect(await cluster.counts()).toEqual({ u2: 1, u3: 1 });
      await drain(a, events);
      expect(transitions(events, 'u1')).toEqual(['online', 'offline']);
    });

    it('audits a consistent store as [] and publishes nothing', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      expect(await a.audit()).toEqual([]);
      await a.connect('u1', 'ann', 0);
      await b.connect('u1', 'ann', 0);
      await b.connect('u2', 'bob', 0);
      await drain(a, events);
      const before = events.length;
      expect(await a.audit()).toEqual([]);
      expect(await b.audit()).toEqual([]);
      await drain(a, events);
      expect(events).toHaveLength(before + 1); // the barrier only
    });

    it('repairs a corrupted, a deleted and a stray counter to the node accounts, without events when membership held', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      await a.connect('u1', 'ann', 0);
      await b.connect('u1', 'ann', 0);
      await b.connect('u2', 'bob', 0);
      await drain(a, events);
      const before = events.length;
      await cluster.setCount('u1', 7);
      await cluster.setCount('u2', undefined);
      await cluster.setCount('nobody', 3);
      const repaired = await b.audit();
      expect(sortById(repaired)).toEqual([
        { userId: 'nobody', expected: 0, found: 3 },
        { userId: 'u1', expected: 2, found: 7 },
        { userId: 'u2', expected: 1, found: 0 },
      ]);
      expect(await cluster.counts()).toEqual({ u1: 2, u2: 1 });
      expect(await a.isOnline(['u1', 'u2', 'nobody'])).toEqual([true, true, false]);
      expect(await a.audit()).toEqual([]);
      await drain(a, events);
      expect(events).toHaveLength(before + 1); // the barrier only: nobody's status changed
      await a.disconnect('u1', 'ann', 'a:1', []);
      expect((await b.disconnect('u1', 'ann', 'b:1', [])).wentOffline).toBe(true);
    });

    it('repairs online_users membership and publishes the status changes as one event', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      await a.connect('u1', 'ann', 0);
      await b.connect('u2', 'bob', 0);
      await drain(a, events);
      const before = events.length;
      await cluster.setOnline('ghost', true); // a member with no counter and no connection
      await cluster.setOnline('u1', false); // counted but missing from the set
      await cluster.setCount('u2', undefined);
      await cluster.setOnline('u2', false); // gone from both
      expect(sortById(await a.audit())).toEqual([
        { userId: 'ghost', expected: 0, found: 0 },
        { userId: 'u1', expected: 1, found: 1 },
        { userId: 'u2', expected: 1, found: 0 },
      ]);
      expect(await a.isOnline(['ghost', 'u1', 'u2'])).toEqual([false, true, true]);
      expect(await cluster.counts()).toEqual({ u1: 1, u2: 1 });
      expect((await a.online(undefined, 10)).users.filter((id) => !id.startsWith('barrier-')).sort()).toEqual(['u1', 'u2']);
      await drain(a, events);
      const audited = events.slice(before, -1);
      expect(audited).toHaveLength(1);
      expect(sortById(audited[0].changes).map(({ userId, username, status }) => ({ userId, username, status }))).toEqual([
        { userId: 'ghost', username: 'ghost', status: 'offline' },
        { userId: 'u1', username: 'ann', status: 'online' },
        { userId: 'u2', username: 'bob', status: 'online' },
      ]);
    });

    it('repairs room counts to the node indexes: a stray member leaves, a lost one returns, each announced', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const rooms = recordRooms(b);
      await b.watchRoom('lobby');
      await a.connect('u1', 'ann', 0);
      await a.join('lobby', 'a:1', 'u1', 'ann');
      await a.join('lobby', 'a:2', 'u1', 'ann');
      await a.connect('u2', 'bob', 0);
      await a.join('lobby', 'a:3', 'u2', 'bob');
      expect(await a.audit()).toEqual([]);
      await cluster.setRoom('lobby', 'u1', 5);
      await cluster.setRoom('lobby', 'u2', undefined);
      await cluster.setRoom('lobby', 'ghost', 1);
      const repaired = await a.audit();
      expect(sortById(repaired)).toEqual([
        { userId: 'ghost', expected: 0, found: 1, action: 'lobby' },
        { userId: 'u1', expected: 2, found: 5, action: 'lobby' },
        { userId: 'u2', expected: 1, found: 0, action: 'lobby' },
      ]);
      expect(await memberIds(b, 'lobby')).toEqual(['u1', 'u2']);
      expect(await a.audit()).toEqual([]);
      await waitFor('the repairs announced', () => roomTransitions(rooms, 'lobby', 'ghost').length === 1 && roomTransitions(rooms, 'lobby', 'u2').length === 2);
      expect(roomTransitions(rooms, 'lobby', 'ghost')).toEqual(['left']);
      expect(roomTransitions(rooms, 'lobby', 'u2')).toEqual(['joined', 'joined']);
    });

    it('counts only registered nodes: a reaped node\'s leftovers are not truth', async () => {
      await setup();
      const dead = await cluster.node('dead', SHORT_LEASE);
      const b = await cluster.node('b');
      await dead.connect('u1', 'ann', 0);
      await b.connect('u2', 'bob', 0);
      // Expired but not reaped yet: still registered, still counted.
      await cluster.untilExpired('dead');
      expect(await b.audit()).toEqual([]);
      expect(await b.reap()).toEqual(['dead']);
      expect(await b.audit()).toEqual([]);
      expect(await cluster.counts()).toEqual({ u2: 1 });
    });

    it('settles an expired node exactly once with two reapers racing, never reaping itself', async () => {
      await setup();
      const dead = await cluster.node('dead', SHORT_LEASE);
      const [b, c] = [await cluster.node('b'), await cluster.node('c')];
      const events = record(b);
      await dead.connect('shared', 'sam', 0);
      await dead.connect('solo', 'sol', 0);
      await dead.connect('solo', 'sol', 0);
      await b.connect('shared', 'sam', 0);
      const rooms = recordRooms(c);
      await c.watchRoom('room');
      await dead.join('room', 'dead:1', 'solo', 'sol');
      await dead.join('room', 'dead:2', 'shared', 'sam');
      await b.join('room', 'b:1', 'shared', 'sam');
      expect((await dead.refreshLease()).lost).toBe(false);
      await cluster.untilExpired('dead');
      expect(await dead.reap()).toEqual([]);
      const [rb, rc] = await Promise.all([b.reap(), c.reap()]);
      expect([...rb, ...rc]).toEqual(['dead']);
      expect(await b.reap()).toEqual([]);
      expect(await b.isOnline(['shared', 'solo'])).toEqual([true, false]);
      expect(await cluster.counts()).toMatchObject({ shared: 1 });
      expect(await memberIds(b, 'room')).toEqual(['shared']);
      await drain(c, events);
      await waitFor('solo leaves the room', () => roomTransitions(rooms, 'room', 'solo').length === 2);
      expect(roomTransitions(rooms, 'room', 'solo')).toEqual(['joined', 'left']);
      expect(roomTransitions(rooms, 'room', 'shared')).toEqual(['joined']);
      expect(transitions(events, 'solo')).toEqual(['online', 'offline']);
      expect(transitions(events, 'shared')).toEqual(['online']);
      expect(events.flatMap((e) => e.changes).find((x) => x.status === 'offline')?.username).toBe('sol');
      // The reaped node finds out and puts its share back.
      expect((await dead.refreshLease()).lost).toBe(true);
      expect((await dead.disconnect('solo', 'sol', 'dead:3', [])).wentOffline).toBe(false);
      await dead.sync({ users: new Map([['solo', { count: 1, username: 'sol' }]]), memberships: new Map() });
      expect((await dead.refreshLease()).lost).toBe(false);
      expect(await cluster.counts()).toMatchObject({ shared: 1, solo: 1 });
    });

    it('settles a previous incarnation of the same node id when it starts with an empty account', async () => {
      await setup();
      const old = await cluster.node('a');
      const b = await cluster.node('b');
      const events = record(b);
      await old.connect('u1', 'ann', 0);
      await old.connect('u2', 'bob', 0);
      await b.connect('u2', 'bob', 0);
      await old.join('room', 'a:1', 'u1', 'ann');
      await old.close();
      await cluster.node('a');
      expect(await b.isOnline(['u1', 'u2'])).toEqual([false, true]);
      expect(await cluster.counts()).toEqual({ u2: 1 });
      expect(await memberIds(b, 'room')).toEqual([]);
      await drain(b, events);
      expect(transitions(events, 'u1')).toEqual(['online', 'offline']);
      expect(transitions(events, 'u2')).toEqual(['online']);
    });

    it('restores exact counts, members and the online set by sync after the store came back empty', async () => {
      await setup();
      const [a, b] = [await cluster.node('a'), await cluster.node('b')];
      const events = record(a);
      const accountA: NodeAccount = {
        users: new Map([['u1', { count: 2, username: 'ann' }], ['u2', { count: 1, username: 'bob' }]]),
        memberships: new Map([['a:1', { userId: 'u1', actions: new Set(['room', 'hall']) }], ['a:2', { userId: 'u2', actions: new Set(['room']) }]]),
      };
      const accountB: NodeAccount = {
        users: new Map([['u1', { count: 1, username: 'ann' }]]), memberships: new Map([['b:1', { userId: 'u1', actions: new Set(['room']) }]]),
      };
      await a.sync(accountA);
      await b.sync(accountB);
      await b.sync(accountB);
      expect(await cluster.counts()).toEqual({ u1: 3, u2: 1 });
      await cluster.wipe();
      expect(await a.isOnline(['u1', 'u2'])).toEqual([false, false]);
      expect((await a.refreshLease()).lost).toBe(true);
      await a.sync(accountA);
      await b.sync(accountB);
      expect(await a.refreshLease()).toEqual({ lost: false, memberships: 3 });
      expect(await cluster.counts()).toEqual({ u1: 3, u2: 1 });
      expect(await memberIds(a, 'room')).toEqual(['u1', 'u2']);
      expect(await memberIds(a, 'hall')).toEqual(['u1']);
      expect((await a.members('room', undefined, 10)).users.find((u) => u.id === 'u2')?.username).toBe('bob');
      expect((await a.online(undefined, 10)).users.sort()).toEqual(['u1', 'u2']);
      await drain(a, events);
      // The wipe itself publishes nothing; each sync re-announces its users in one batch.
      expect(transitions(events, 'u2')).toEqual(['online', 'online']);
      const restored = events.filter((e) => e.changes.some((c) => c.userId === 'u2')).at(-1);
      expect(restored?.changes.filter((c) => c.userId === 'u1' || c.userId === 'u2')).toHaveLength(2);
      for (const conn of ['a:1', 'a:2']) await a.disconnect('u1', 'ann', conn, []);
      expect(await a.isOnline(['u1'])).toEqual([true]);
      expect((await b.disconnect('u1', 'ann', 'b:1', ['room'])).wentOffline).toBe(true);
      expect(await memberIds(a, 'room')).toEqual(['u1', 'u2']);
      await a.sync({ users: new Map([['u2', { count: 1, username: 'bob' }]]), memberships: new Map([['a:2', { userId: 'u2', actions: new Set(['room']) }]]) });
      expect(await memberIds(a, 'room')).toEqual(['u2']);
      expect(await memberIds(a, 'hall')).toEqual([]);
    });
  });
}

