/**
 * The presence contract's rooms and audits (presence-suite.ts runs them): membership per user
 * cluster-wide, room events and member pages, and the audit's repairs of counters, the online
 * set and rooms.
 */
import { expect, it } from 'vitest';
import { CursorError } from '../../src/presence/types.js';
import { drain, memberIds, record, recordRooms, roomTransitions, sortById } from './presence-helpers.js';
import type { Cluster } from './presence-stores.js';
import { waitFor } from '../harness/wait.js';

/** Rooms, members and audits; `setup` makes the test's store. */
export function roomSpecs(setup: () => Promise<Cluster>): void {
  it('counts action members per user cluster-wide, idempotently per connection, and drops them on disconnect', async () => {
    const cluster = await setup();
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

  it('applies joins and leaves issued together in issue order; a disconnect issued after them leaves no member behind', async () => {
    const cluster = await setup();
    const a = await cluster.node('a');
    const rooms = recordRooms(a);
    await a.watchRoom('deck');
    await a.connect('u1', 'ann', 0);
    await a.connect('u2', 'bob', 0);
    // One turn: the Redis store sends each run of one op as one script call (turn-batch.ts).
    await Promise.all([
      a.join('deck', 'a:1', 'u1', 'ann'), a.join('deck', 'a:2', 'u2', 'bob'), a.leave('deck', 'a:1', 'u1', 'ann'), a.join('deck', 'a:1', 'u1', 'ann'),
    ]);
    expect(await memberIds(a, 'deck')).toEqual(['u1', 'u2']);
    await waitFor('three room events', () => roomTransitions(rooms, 'deck', 'u1').length === 3);
    expect(roomTransitions(rooms, 'deck', 'u1')).toEqual(['joined', 'left', 'joined']);
    const joined = a.join('deck-2', 'a:2', 'u2', 'bob');
    const gone = a.disconnect('u2', 'bob', 'a:2', ['deck', 'deck-2']);
    await Promise.all([joined, gone]);
    expect(await memberIds(a, 'deck')).toEqual(['u1']);
    expect(await memberIds(a, 'deck-2')).toEqual([]);
  });

  it('keeps a user with tabs on two nodes in a room until the last leaves: one joined, one left, in order with a page\'s seq', async () => {
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
    const a = await cluster.node('a');
    await a.connect('u1', 'ann', 0);
    await a.join('x', 'a:1', 'u1', 'ann');
    await a.join('y', 'a:1', 'u1', 'ann');
    await a.join('y', 'a:2', 'u1', 'ann');
    expect(await a.refreshLease()).toEqual({ lost: false, memberships: 3 });
  });


  it('audits a consistent store as [] and publishes nothing', async () => {
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
    const cluster = await setup();
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
}
