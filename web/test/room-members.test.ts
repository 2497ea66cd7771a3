/**
 * The room's member list (web/src/room-members.ts): built from `members` pages, kept live by
 * `room` events with the seq rule (only events above the page's seq), held events before the
 * first page, repeated users across pages, and starting over on a reset.
 */
import { describe, expect, it } from 'vitest';
import type { MembersResult, RoomMessage } from '../../shared/protocol.js';
import { RoomMembers } from '../src/room-members.js';

const user = (id: string) => ({ id, username: id, displayName: id.toUpperCase() });
const page = (seq: number, ids: string[], count = ids.length, cursor?: string): MembersResult =>
  ({ action: 'lobby', users: ids.map(user), count, seq, ...(cursor ? { cursor } : {}) });
const room = (seq: number, ...changes: Array<[string, 'joined' | 'left']>): RoomMessage =>
  ({ type: 'room', action: 'lobby', seq, changes: changes.map(([userId, status]) => ({ userId, username: userId, status, ts: seq })) });

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
    expect(m.count()).toBe(2);
    expect(m.apply({ ...room(7, ['dan', 'joined']), action: 'other' })).toBe(false);
  });

  it('holds events that arrive before the first page, then applies those above its seq', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    expect(m.ready).toBe(false);
    m.apply(room(3, ['old', 'joined'])); // at or below the page: the page shows it already
    m.apply(room(9, ['bob', 'left'], ['cat', 'joined']));
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

  it('ignores a later batch repeating an older change of a user, and is idempotent', () => {
    const m = new RoomMembers('lobby');
    m.reset();
    m.addPage(m.generation, page(1, []));
    m.apply(room(3, ['ann', 'joined']));
    m.apply(room(3, ['ann', 'joined']));
    m.apply(room(4, ['ann', 'left']));
    m.apply(room(2, ['ann', 'joined'])); // older than her last change
    expect(m.list()).toEqual([]);
  });

  it('reads every page with the members request, and a reset makes a running read stale', async () => {
    const m = new RoomMembers('lobby');
    const asked: Array<string | undefined> = [];
    const pages: Record<string, MembersResult> = { start: page(4, ['ann'], 3, 'p2'), p2: page(4, ['bob', 'cat'], 3) };
    const done = await m.read(async (action, cursor) => {
      expect(action).toBe('lobby');
      asked.push(cursor);
      return pages[cursor ?? 'start'];
    });
    expect(done).toBe(true);
    expect(asked).toEqual([undefined, 'p2']);
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
