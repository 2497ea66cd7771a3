/**
 * The page's online list model (web/src/roster.ts): snapshot, pages, presence changes and
 * names, in the orders they can arrive; the counted mode (no list, the cluster's count) and
 * the way back to listing.
 */
import { describe, expect, it } from 'vitest';
import type { WelcomeMessage } from '../../shared/protocol.js';
import { Roster } from '../src/roster.js';

function welcome(online: string[], onlineCount = online.length, onlineCursor?: string, onlineListed = true): WelcomeMessage {
  return {
    type: 'welcome', connectionId: 'c', node: 'n', user: { id: 'me', username: 'me', displayName: 'Me Myself' },
    online, onlineCount, ...(onlineCursor ? { onlineCursor } : {}), onlineListed, heartbeatMs: 30_000,
    limits: { maxPayloadBytes: 65536, welcomeOnline: 2 },
  };
}

describe('Roster', () => {
  it('starts from the welcome and follows presence changes in arrival order', () => {
    const r = new Roster();
    r.reset(welcome(['me', 'u1']));
    expect(r.apply([
      { userId: 'u2', username: 'bob', status: 'online', ts: 1 },
      { userId: 'u1', username: 'al', status: 'offline', ts: 2 },
      { userId: 'u2', username: 'bob', status: 'offline', ts: 3 },
      { userId: 'u2', username: 'bob', status: 'online', ts: 4 },
    ])).toEqual(['u2', 'u1', 'u2', 'u2']);
    expect(r.list().map((p) => p.id)).toEqual(['u2', 'me']);
    expect(r.count()).toBe(2);
  });

  it('pages the rest of a large online set; a change seen meanwhile wins over a page', () => {
    const r = new Roster();
    r.reset(welcome(['me', 'u1'], 5, '7'));
    expect(r.count()).toBe(5); // the snapshot's count until every page is in
    r.apply([{ userId: 'u3', username: 'c', status: 'offline', ts: 1 }]);
    r.addPage(r.generation, ['u2', 'u3', 'u1'], false);
    r.addPage(r.generation, ['u4'], true);
    expect(r.list().map((p) => p.id).sort()).toEqual(['me', 'u1', 'u2', 'u4']);
    expect(r.count()).toBe(4);
  });

  it('ignores a page that belongs to an older connection', () => {
    const r = new Roster();
    r.reset(welcome(['me'], 3, '1'));
    const old = r.generation;
    r.reset(welcome(['me']));
    r.addPage(old, ['ghost'], true);
    expect(r.isOnline('ghost')).toBe(false);
  });

  it('labels by display name, then username, then a short id, and keeps names across resets', () => {
    const r = new Roster();
    r.reset(welcome(['me', '0123456789abcdef']));
    expect(r.label('0123456789abcdef')).toBe('user 01234567');
    r.apply([{ userId: 'u9', username: 'zed', status: 'online', ts: 1 }]);
    expect(r.label('u9')).toBe('zed');
    r.learn('u9', undefined, 'Zed Zebra');
    r.learn('u9', 'zed');
    r.reset(welcome(['me', 'u9']));
    expect(r.label('u9')).toBe('Zed Zebra');
    expect(r.label('me')).toBe('Me Myself');
  });

  it('counted: a welcome with onlineListed false holds the cluster count and lists no one', () => {
    const r = new Roster();
    r.reset(welcome([], 1500, undefined, false));
    expect(r.listed).toBe(false);
    expect(r.count()).toBe(1500);
    expect(r.list()).toEqual([]);
    expect(r.label('me')).toBe('Me Myself'); // the own profile is still learned
  });

  it('counted: entering it drops the list, pages on their way, and takes no one from changes', () => {
    const r = new Roster();
    r.reset(welcome(['me', 'u1'], 4, '7'));
    const paging = r.generation;
    r.counted(1001);
    expect(r.list()).toEqual([]);
    expect(r.isOnline('u1')).toBe(false);
    r.addPage(paging, ['u2', 'u3'], true); // the page asked for while listed comes in late
    expect(r.list()).toEqual([]);
    // A watched user's change: names learned, nobody listed, the count left to presence_count.
    expect(r.apply([{ userId: 'u9', username: 'zed', status: 'online', ts: 1 }])).toEqual([]);
    expect(r.list()).toEqual([]);
    expect(r.label('u9')).toBe('zed');
    expect(r.count()).toBe(1001);
    r.counted(1003);
    expect(r.count()).toBe(1003);
  });

  it('back to listing with relist(): the count until every page is in; changes meanwhile win over pages', () => {
    const r = new Roster();
    r.reset(welcome([], 1500, undefined, false));
    r.relist(3);
    expect(r.listed).toBe(true);
    expect(r.count()).toBe(3);
    const generation = r.generation;
    r.apply([{ userId: 'u2', username: 'b', status: 'offline', ts: 1 }, { userId: 'u4', username: 'd', status: 'online', ts: 2 }]);
    r.addPage(generation, ['me', 'u2'], false);
    expect(r.count()).toBe(3); // at least the count, while pages are missing
    r.addPage(generation, ['u3'], true);
    expect(r.list().map((p) => p.id).sort()).toEqual(['me', 'u3', 'u4']);
    expect(r.count()).toBe(3);
  });

  it('back to listing with a presence_reset snapshot (reason "listed"), and counted again', () => {
    const r = new Roster();
    r.reset(welcome([], 1500, undefined, false));
    r.replace(['me', 'u1'], undefined);
    expect(r.listed).toBe(true);
    expect(r.list().map((p) => p.id).sort()).toEqual(['me', 'u1']);
    expect(r.count()).toBe(2);
    r.counted(2000);
    expect(r.listed).toBe(false);
    expect(r.list()).toEqual([]);
  });

  it('a welcome without onlineListed (an older gateway) lists', () => {
    const r = new Roster();
    const { onlineListed: _, ...old } = welcome(['me', 'u1']);
    r.reset(old as WelcomeMessage);
    expect(r.listed).toBe(true);
    expect(r.count()).toBe(2);
  });
});
