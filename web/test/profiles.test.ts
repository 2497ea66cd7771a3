/**
 * Names and pictures (web/src/profiles.ts, roster.ts) and the profile edits over HTTP
 * (web/src/account.ts): batches of at most 1000 ids, ids left out are not asked again, a
 * failed lookup is, profile frames replace names and pictures, and server refusals come back
 * with the server's message.
 */
import { describe, expect, it } from 'vitest';
import type { UserInfo } from '../../shared/protocol.js';
import { saveDisplayName, uploadAvatar } from '../src/account.js';
import type { HttpFetch } from '../src/auth.js';
import { Profiles, USERS_PER_REQUEST } from '../src/profiles.js';
import { Roster } from '../src/roster.js';

const user = (id: string, extra: Partial<UserInfo> = {}): UserInfo => ({ id, username: `user-${id}`, displayName: `User ${id}`, ...extra });

describe('Profiles', () => {
  it('asks for unknown ids in batches of at most 1000, one batch after another, and labels them', async () => {
    const roster = new Roster();
    roster.learnProfile(user('known'));
    const asked: string[][] = [];
    let inFlight = 0;
    const profiles = new Profiles(roster, async (ids) => {
      asked.push(ids);
      expect(++inFlight).toBe(1);
      await Promise.resolve();
      inFlight -= 1;
      return ids.filter((id) => id !== 'x7').map((id) => user(id, id === 'x1' ? { avatarUrl: '/api/users/x1/avatar?v=2' } : {}));
    });
    const changes: string[][] = [];
    profiles.onChange((ids) => changes.push(ids));
    const ids = ['known', ...Array.from({ length: 2500 }, (_, i) => `x${i}`), 'x1'];
    await profiles.fill(ids);
    expect(asked.map((b) => b.length)).toEqual([USERS_PER_REQUEST, USERS_PER_REQUEST, 500]);
    expect(asked.flat()).not.toContain('known');
    expect(changes).toHaveLength(3);
    expect(roster.label('x1')).toBe('User x1');
    expect(roster.avatar('x1')).toBe('/api/users/x1/avatar?v=2');
    expect(roster.label('x7')).toBe('user x7'); // not in the directory: short id
    await profiles.fill(ids);
    expect(asked).toHaveLength(3); // known ones and absent ones are not asked again
  });

  it('asks again after a failed lookup, and never twice at once for the same id', async () => {
    const roster = new Roster();
    let fail = true;
    let calls = 0;
    const profiles = new Profiles(roster, async (ids) => {
      calls += 1;
      if (fail) throw new Error('disconnected');
      return ids.map((id) => user(id));
    });
    await profiles.fill(['a']);
    expect(roster.unprofiled(['a'])).toEqual(['a']);
    fail = false;
    await Promise.all([profiles.fill(['a', 'b']), profiles.fill(['a', 'b'])]);
    expect(calls).toBe(2);
    expect(roster.label('b')).toBe('User b');
  });

  it('takes profile changes: a new name, a picture, and a picture removed', () => {
    const roster = new Roster({ online: new Set(['p']), count: 1, listed: true });
    const profiles = new Profiles(roster, async () => []);
    const changes: string[][] = [];
    profiles.onChange((ids) => changes.push(ids));
    roster.learn('p', 'paula'); // the username of a presence change
    expect(roster.label('p')).toBe('paula');
    profiles.learn(user('p', { displayName: 'Paula P.', avatarUrl: '/a?v=1' }));
    expect(roster.list()).toEqual([{ id: 'p', label: 'Paula P.', username: 'user-p', avatarUrl: '/a?v=1' }]);
    profiles.learn(user('p', { displayName: 'Paula' }));
    expect(roster.avatar('p')).toBeUndefined();
    expect(roster.profile('p')).toEqual({ id: 'p', username: 'user-p', displayName: 'Paula' });
    roster.learn('p', 'paula'); // a presence change never erases the profile
    expect(roster.label('p')).toBe('Paula');
    expect(changes).toEqual([['p'], ['p']]);
  });
});

describe('account (PATCH /api/me, PUT /api/me/avatar)', () => {
  const calls: Array<{ url: string; method: string; headers: Record<string, string>; body?: unknown }> = [];
  const server = (status: number, body: unknown): HttpFetch => async (url, init) => {
    calls.push({ url, ...init });
    return { status, json: async () => body };
  };

  it('sends the display name as JSON with the token and returns the new profile', async () => {
    calls.length = 0;
    const res = await saveDisplayName(server(200, { user: user('me', { displayName: 'New' }) }), 'tok', 'New');
    expect(res).toEqual({ ok: true, user: user('me', { displayName: 'New' }) });
    expect(calls).toEqual([{ url: '/api/me', method: 'PATCH', headers: { authorization: 'Bearer tok', 'content-type': 'application/json' }, body: '{"displayName":"New"}' }]);
  });

  it('uploads the file as the raw body with its own type, and returns the server message on refusals', async () => {
    calls.length = 0;
    const png = new Blob([new Uint8Array([0x89, 0x50])], { type: 'image/png' });
    await uploadAvatar(server(200, { user: user('me') }), 'tok', png);
    expect(calls[0]).toMatchObject({ url: '/api/me/avatar', method: 'PUT', headers: { 'content-type': 'image/png' }, body: png });
    for (const [status, message] of [[413, 'a picture is at most 2048 bytes'], [415, 'send image/png, image/jpeg'], [400, 'the body is not a image/png image']] as const) {
      expect(await uploadAvatar(server(status, { error: 'x', message }), 'tok', png)).toEqual({ ok: false, status, message });
    }
    expect(await uploadAvatar(server(502, 'bad gateway'), 'tok', png)).toEqual({ ok: false, status: 502, message: 'HTTP 502' });
    expect(await saveDisplayName(async () => { throw new TypeError('offline'); }, 'tok', 'x')).toMatchObject({ ok: false, status: 0 });
  });
});
