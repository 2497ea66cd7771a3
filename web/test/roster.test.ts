/**
 * The page's names for people (web/src/roster.ts): labels (display name, then username, then a
 * short id), complete profiles with pictures, the ids still to look up, and the online list it
 * draws from the client's presence (sorted by label; empty while the cluster is not listed).
 * The online set itself is the client package's (client/test/presence.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { Presence } from '../../client/src/index.js';
import { welcomeFrame } from '../../client/test/fakes.js';
import { Roster, type OnlineSource } from '../src/roster.js';

/** A presence the test sets by hand. */
const source = (online: string[], listed = true, count = online.length): OnlineSource => ({ online: new Set(online), listed, count });

describe('Roster names', () => {
  it('labels by display name, then username, then a short id; a missing name never erases a known one', () => {
    const r = new Roster();
    expect(r.label('0123456789abcdef')).toBe('user 01234567');
    r.learn('u9', 'zed');
    expect(r.label('u9')).toBe('zed');
    expect(r.username('u9')).toBe('zed');
    r.learn('u9', undefined, 'Zed Zebra');
    r.learn('u9', 'zed');
    r.learn('u9', '', '');
    expect(r.label('u9')).toBe('Zed Zebra');
    expect(r.username('u9')).toBe('zed');
    expect(r.username('nobody')).toBeUndefined();
  });

  it('takes complete profiles: names and picture, an absent picture removes it; learn() keeps the profile\'s names', () => {
    const r = new Roster();
    expect(r.profile('p')).toBeUndefined();
    r.learn('p', 'paula');
    expect(r.profile('p')).toBeUndefined(); // a username alone is not a profile
    r.learnProfile({ id: 'p', username: 'paula', displayName: 'Paula P.', avatarUrl: '/api/users/p/avatar?v=1' });
    expect([r.label('p'), r.avatar('p')]).toEqual(['Paula P.', '/api/users/p/avatar?v=1']);
    expect(r.profile('p')).toEqual({ id: 'p', username: 'paula', displayName: 'Paula P.', avatarUrl: '/api/users/p/avatar?v=1' });
    r.learnProfile({ id: 'p', username: 'paula', displayName: 'Paula' });
    expect(r.avatar('p')).toBeUndefined();
    expect(r.profile('p')).toEqual({ id: 'p', username: 'paula', displayName: 'Paula' });
    r.learn('p', 'paula'); // a presence change never erases the profile
    expect(r.label('p')).toBe('Paula');
  });

  it('lists the ids still to look up: not profiled, not known to be absent from the directory, each once', () => {
    const r = new Roster();
    r.learnProfile({ id: 'known', username: 'k', displayName: 'K' });
    r.learn('named', 'n'); // a name from a presence change: still to look up
    expect(r.unprofiled(['known', 'named', 'x', 'x', 'gone'])).toEqual(['named', 'x', 'gone']);
    r.markAbsent(['gone']);
    expect(r.unprofiled(['gone', 'x'])).toEqual(['x']);
    expect(r.label('gone')).toBe('user gone');
    r.learnProfile({ id: 'gone', username: 'back', displayName: 'Back' }); // learned after all: no longer absent
    expect(r.unprofiled(['gone'])).toEqual([]);
    expect(r.label('gone')).toBe('Back');
  });
});

describe('Roster list', () => {
  it('lists the online users sorted by label, case-insensitively, with username and picture', () => {
    const r = new Roster(source(['u3', 'u1', 'u2', '0123456789']));
    r.learnProfile({ id: 'u1', username: 'bob', displayName: 'bob', avatarUrl: '/b.png' });
    r.learn('u2', 'al', 'Alice');
    r.learn('u3', 'Carl'); // by code point, 'Carl' would come before 'bob'
    expect(r.list()).toEqual([
      { id: 'u2', label: 'Alice', username: 'al', avatarUrl: undefined },
      { id: 'u1', label: 'bob', username: 'bob', avatarUrl: '/b.png' },
      { id: 'u3', label: 'Carl', username: 'Carl', avatarUrl: undefined },
      { id: '0123456789', label: 'user 01234567', username: undefined, avatarUrl: undefined },
    ]);
    expect([r.listed, r.count(), r.isOnline('u1'), r.isOnline('nobody')]).toEqual([true, 4, true, false]);
  });

  it('is empty while the cluster is not listed; the count is the presence\'s', () => {
    const r = new Roster(source(['u1'], false, 1500)); // e.g. a watched user online
    expect(r.listed).toBe(false);
    expect(r.list()).toEqual([]);
    expect(r.count()).toBe(1500);
    expect(r.isOnline('u1')).toBe(true);
  });

  it('reads the presence live: a welcome, changes, the counted mode', () => {
    const presence = new Presence(() => Promise.reject(new Error('no requests expected')), { setTimeout: () => 0, clearTimeout: () => {} });
    const r = new Roster(presence);
    r.learn('u2', 'bob');
    presence.welcomed(welcomeFrame({ online: ['u1', 'u2'], onlineCount: 2 }));
    expect(r.list().map((p) => p.label)).toEqual(['bob', 'user u1']);
    presence.frame([{ userId: 'u1', username: 'al', status: 'offline', ts: 1 }]);
    expect(r.list().map((p) => p.id)).toEqual(['u2']);
    expect(r.count()).toBe(1);
    presence.frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    expect([r.listed, r.list(), r.count()]).toEqual([false, [], 1200]);
  });

  it('without a presence: nobody online, listed', () => {
    const r = new Roster();
    expect([r.listed, r.list(), r.count(), r.isOnline('u1')]).toEqual([true, [], 0, false]);
  });
});
