/**
 * The presence store contract: one specification, run by presence.contract.test.ts on the
 * memory twin and one real redis-server, and by presence.cluster.test.ts on a real
 * three-primary Redis Cluster (a hash-tagged prefix: one partition, every key in one slot).
 * Here: presence across nodes, snapshots and pages, the per-user limit, leases, reaping and
 * sync; rooms and audits are in presence-rooms-suite.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CursorError, type NodeAccount } from '../../src/presence/types.js';
import { waitFor } from '../harness/wait.js';
import { drain, memberIds, record, recordRooms, roomTransitions, transitions } from './presence-helpers.js';
import { roomSpecs } from './presence-rooms-suite.js';
import { SHORT_LEASE, type Cluster } from './presence-stores.js';

export function presenceContract(name: string, makeCluster: () => Promise<Cluster>): void {
  describe(`PresenceStore contract: ${name}`, () => {
    let cluster: Cluster | undefined;
    const setup = async () => (cluster = await makeCluster());
    afterEach(async () => cluster?.dispose());
    presenceSpecs(setup);
    roomSpecs(setup);
  });
}

/** Presence, snapshots, limits, leases, reaping and sync; `setup` makes the test's store. */
function presenceSpecs(setup: () => Promise<Cluster>): void {
  it('keeps a user with tabs on two nodes online until the last one closes, one event per transition', async () => {
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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


  it('gives connects issued together the results of one at a time, in order, each snapshot covering its own change', async () => {
    const cluster = await setup();
    const a = await cluster.node('a');
    const events = record(a);
    // Issued in one turn: the Redis store sends them as one script call (connect-batch.ts).
    const results = await Promise.all([
      a.connect('u1', 'ann', 10, 1), a.connect('u1', 'ann', 10, 1), a.connect('u2', 'bob', 10, 1), a.connect('u1', 'ann', 10, 0),
    ]);
    expect(results.map((r) => [r.wentOnline, r.refused])).toEqual([[true, false], [false, true], [true, false], [false, false]]);
    expect(await cluster.counts()).toEqual({ u1: 2, u2: 1 });
    await drain(a, events);
    for (const [i, userId] of [[0, 'u1'], [2, 'u2']] as const) {
      const own = events.find((e) => e.changes.some((c) => c.userId === userId && c.status === 'online'))!;
      expect(results[i].snapshot.seq).toBeGreaterThanOrEqual(own.seq);
      expect(results[i].snapshot.online).toContain(userId);
    }
    expect(transitions(events, 'u1')).toEqual(['online']);
  });

  it('keeps issue order: a sync issued right after a connect (its account counting it) counts it once', async () => {
    const cluster = await setup();
    const a = await cluster.node('a');
    // The gateway counts a connection in its account before it issues the connect (admission.ts).
    const connected = a.connect('u1', 'ann', 10);
    const synced = a.sync({ users: new Map([['u1', { count: 1, username: 'ann' }]]), memberships: new Map() });
    await Promise.all([connected, synced]);
    expect(await cluster.counts()).toEqual({ u1: 1 });
  });

  it('refuses a connection past the per-user limit cluster-wide, changing and publishing nothing', async () => {
    const cluster = await setup();
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


  it('counts only registered nodes: a reaped node\'s leftovers are not truth', async () => {
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
}
