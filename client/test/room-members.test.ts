/**
 * A room's member list (client/src/room-members.ts): built from `members` pages, kept live by
 * `room` events with the seq rule (only events above the first page's seq), events held before
 * the first page, repeated users across pages, and starting over on a reset. Then the same
 * through `channel.members()` on a RealtimeClient: the pages it asks for, `room` events, and
 * reading again after a `room_reset` or a re-join.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MembersResult, RoomChange, RoomMessage } from '../../shared/protocol.js';
import { RoomMembers } from '../src/room-members.js';
import { connected, FAKE_TIMERS, FakeSocket, last, reconnect, settle } from './fakes.js';

const user = (id: string) => ({ id, username: id, displayName: id.toUpperCase() });
const page = (seq: number, ids: string[], count = ids.length, cursor?: string): MembersResult =>
  ({ action: 'lobby', users: ids.map(user), count, seq, ...(cursor ? { cursor } : {}) });
const room = (seq: number, ...changes: Array<[string, 'joined' | 'left']>): RoomMessage =>
  ({ type: 'room', action: 'lobby', seq, changes: changes.map(([userId, status]) => ({ userId, username: `@${userId}`, status, ts: seq })) });

describe('RoomMembers', () => {
  it('applies only room events with a seq above the page it was built from', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    m.addPage(m.generation, page(5, ['ann', 'bob']));
    expect(m.apply(room(4, ['cat', 'joined']))).toBe(false); // already in (or out of) the page
    expect(m.apply(room(5, ['bob', 'left']))).toBe(false);
    expect(m.list().sort()).toEqual(['ann', 'bob']);
    expect(m.apply(room(6, ['cat', 'joined'], ['ann', 'left']))).toBe(true);
    expect(m.list().sort()).toEqual(['bob', 'cat']);
    expect(m.has('cat')).toBe(true);
    expect(m.has('ann')).toBe(false);
    expect(m.count()).toBe(2);
    expect(m.apply({ ...room(7, ['dan', 'joined']), action: 'other' })).toBe(false);
    expect(m.has('dan')).toBe(false);
  });

  it('holds events that arrive before the first page, then applies those above its seq', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    expect(m.ready).toBe(false);
    expect(m.apply(room(3, ['old', 'joined']))).toBe(false); // held; at or below the page: the page shows it already
    m.apply(room(9, ['bob', 'left'], ['cat', 'joined']));
    expect(m.list()).toEqual([]);
    m.addPage(m.generation, page(8, ['ann', 'bob']));
    expect(m.ready).toBe(true);
    expect(m.list().sort()).toEqual(['ann', 'cat']);
  });

  it('merges later pages: repeated users once, users changed after a page keep their change', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    const g = m.generation;
    m.addPage(g, page(10, ['ann', 'bob'], 5, 'c1'));
    expect(m.count()).toBe(5); // more pages to come: at least the server's count
    m.apply(room(12, ['dan', 'left'], ['eve', 'joined']));
    m.addPage(g, page(11, ['bob', 'cat', 'dan'], 5, 'c2')); // dan left after this page was read
    m.addPage(g, page(13, ['eve', 'fay'], 5));
    expect(m.list().sort()).toEqual(['ann', 'bob', 'cat', 'eve', 'fay']);
    expect(m.count()).toBe(5);
  });

  it('counts exactly once every page is in, at least the last page\'s count until then', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    m.addPage(m.generation, page(1, ['ann'], 3, 'c1'));
    expect(m.count()).toBe(3);
    m.addPage(m.generation, page(1, ['bob'], 3));
    expect(m.count()).toBe(2); // the last page says 3, but the list is complete: the list is right
  });

  it('ignores a later batch repeating an older change of a user, and is idempotent', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    m.addPage(m.generation, page(1, []));
    m.apply(room(3, ['ann', 'joined']));
    m.apply(room(3, ['ann', 'joined']));
    expect(m.list()).toEqual(['ann']);
    m.apply(room(4, ['ann', 'left']));
    m.apply(room(2, ['ann', 'joined'])); // older than her last change
    expect(m.list()).toEqual([]);
  });

  it('ignores a page of an older generation', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    const old = m.generation;
    m.reset();
    expect(m.addPage(old, page(1, ['ghost']))).toBe(false);
    expect(m.ready).toBe(false);
    expect(m.list()).toEqual([]);
  });

  it('reads every page with the members request, and a reset makes a running read stale', async () => {
    const m = new RoomMembers('lobby');
    const asked: Array<string | undefined> = [];
    const pages: Record<string, MembersResult> = { start: page(4, ['ann'], 3, 'p2'), p2: page(4, ['bob', 'cat'], 3) };
    const seen: number[] = [];
    const done = await m.read(async (action, cursor) => {
      expect(action).toBe('lobby');
      asked.push(cursor);
      return pages[cursor ?? 'start'];
    }, (p) => seen.push(p.users.length));
    expect(done).toBe(true);
    expect(asked).toEqual([undefined, 'p2']);
    expect(seen).toEqual([1, 2]);
    expect(m.list()).toEqual(['ann', 'bob', 'cat']);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let secondAsked!: () => void;
    const asking = new Promise<void>((resolve) => (secondAsked = resolve));
    const slow = m.read(async (_action, cursor) => {
      if (!cursor) return page(8, ['ann'], 2, 'p2');
      secondAsked();
      await gate;
      return page(9, ['zed']);
    });
    await asking;
    m.reset(); // room_reset: a new read starts; the old one's pages are ignored
    release();
    await expect(slow).resolves.toBe(false);
    expect(m.list()).toEqual([]);
  });
});

describe('channel.members() on a client', () => {
  beforeEach(() => {
    vi.useFakeTimers(FAKE_TIMERS);
    FakeSocket.all = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });


  async function joinedLobby() {
    const client = await connected();
    const lobby = client.channel('lobby');
    const joining = lobby.join();
    last().ack('join', { action: 'lobby', joined: true });
    await joining;
    return { client, lobby };
  }

  it('asks for every page (with the previous cursor), resolves with the members, and shares one read between callers', async () => {
    const { lobby } = await joinedLobby();
    expect(lobby.memberList()).toEqual([]); // nothing read yet
    const reading = lobby.members();
    const again = lobby.members();
    expect(last().sentOf('members')).toEqual([{ type: 'members', action: 'lobby', id: expect.any(String) }]);
    last().ack('members', page(7, ['ann'], 2, '12'));
    await settle();
    expect(last().lastOf('members')).toEqual({ type: 'members', action: 'lobby', cursor: '12', id: expect.any(String) });
    last().ack('members', page(7, ['bob'], 2));
    const members = await reading;
    expect(members).toEqual([user('ann'), user('bob')]);
    await expect(again).resolves.toEqual(members);
    expect(last().sentOf('members')).toHaveLength(2);
  });

  it('applies room events above the first page\'s seq, names newcomers by username (held ones too), and passes every applied one on', async () => {
    const { lobby } = await joinedLobby();
    const seen: RoomChange[][] = [];
    lobby.on('room', (c) => seen.push(c));
    last().frame(room(1, ['early', 'joined'])); // before members(): not followed, not passed on
    const reading = lobby.members();
    last().frame(room(6, ['cat', 'joined'])); // before the page came: held, then applied (above its seq)
    last().ack('members', page(5, ['ann', 'bob']));
    await reading;
    expect(lobby.memberList().map((u) => u.id).sort()).toEqual(['ann', 'bob', 'cat']);
    last().frame(room(4, ['dan', 'joined'])); // at or below the page: already in it
    last().frame(room(7, ['ann', 'left'], ['eve', 'joined']));
    expect(lobby.memberList()).toEqual([user('bob'), { id: 'cat', username: '@cat', displayName: '@cat' }, { id: 'eve', username: '@eve', displayName: '@eve' }]);
    expect(seen).toEqual([room(6, ['cat', 'joined']).changes, room(7, ['ann', 'left'], ['eve', 'joined']).changes]);
  });

  it('rejects with the server\'s refusal (no room presence in that namespace)', async () => {
    const { lobby } = await joinedLobby();
    const reading = lobby.members();
    last().refuse('members', 'forbidden', 'room presence is off for namespace default');
    await expect(reading).rejects.toMatchObject({ name: 'RequestError', code: 'forbidden', message: 'room presence is off for namespace default' });
  });

  it('reads again after a room_reset and after a re-join on a new connection, not after `left`', async () => {
    const { lobby } = await joinedLobby();
    const reading = lobby.members();
    last().ack('members', page(5, ['ann', 'bob']));
    await reading;

    last().frame({ type: 'room_reset', action: 'lobby' });
    expect(last().sentOf('members')).toHaveLength(2);
    last().ack('members', page(20, ['bob']));
    await settle();
    expect(lobby.memberList().map((u) => u.id)).toEqual(['bob']);

    const ws = await reconnect();
    expect(ws.sentOf('members')).toEqual([]); // only members may ask: after the re-join's ack
    ws.ack('joins', { results: [{ action: 'lobby', joined: true }] });
    await settle();
    expect(ws.sentOf('members')).toEqual([{ type: 'members', action: 'lobby', id: expect.any(String) }]);
    ws.ack('members', page(3, ['bob', 'cat']));
    await settle();
    expect(lobby.memberList().map((u) => u.id)).toEqual(['bob', 'cat']);

    ws.frame({ type: 'left', action: 'lobby', reason: 'unsubscribed' });
    expect(lobby.memberList()).toEqual([]);
    ws.frame({ type: 'room_reset', action: 'lobby' });
    ws.frame(room(9, ['dan', 'joined']));
    expect(ws.sentOf('members')).toHaveLength(1);
    expect(lobby.memberList()).toEqual([]);
  });

  it('leave() stops following the room', async () => {
    const { lobby } = await joinedLobby();
    const reading = lobby.members();
    last().ack('members', page(5, ['ann']));
    await reading;
    const leaving = lobby.leave();
    last().ack('leave', { action: 'lobby', joined: false });
    await leaving;
    expect(lobby.joined).toBe(false);
    expect(lobby.memberList()).toEqual([]);
    last().frame({ type: 'room_reset', action: 'lobby' });
    expect(last().sentOf('members')).toHaveLength(1);
  });
});
