/**
 * Profiles: a display name and a picture per user, stored in the directory and pushed live.
 *
 * - `PATCH /api/me` `{"displayName"}` and `PUT /api/me/avatar` (raw image body: PNG, JPEG,
 *   GIF or WebP, checked by its leading bytes, at most AVATAR_MAX_BYTES) with a Bearer token;
 *   only users in the directory have a profile to edit.
 * - `GET /api/users/:id/avatar` needs no token (an <img> cannot send one); its URL carries the
 *   picture's version, so the answer is cacheable for a year and revalidates by ETag.
 * - A change goes out as a `profile` control command (node/control.ts `tell`): on every node,
 *   session/ gives the user's connections the new name (stamped on their next messages) and
 *   every socket that sees that user (presence feed '*' or watching them) gets a `profile` frame.
 */
import { fail, sessionOf } from './request.js';
import type { Authenticate } from '../auth/sessions.js';
import type { Rule, SharedLimits } from '../limits/types.js';
import type { ClusterControl } from '../node/control.js';
import type { ApiReply } from '../transport/http.js';
import type { Route, RouteRequest, Routes } from '../transport/server.js';
import { cleanDisplayName, DirectoryError, DISPLAY_NAME_RULE, profileOf, type User, type UserDirectory } from '../users/types.js';

const IMAGE_TYPES: Record<string, (b: Buffer) => boolean> = {
  'image/png': (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
  'image/jpeg': (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff,
  'image/gif': (b) => /^GIF8[79]a/.test(b.subarray(0, 6).toString('latin1')),
  'image/webp': (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP',
};

export interface ProfileDeps {
  users: UserDirectory;
  control: Pick<ClusterControl, 'tell'>;
  authenticate: Authenticate;
  avatarMaxBytes: number;
  /** Shared by the nodes: changes per user (PROFILE_CHANGES). */
  limits: Pick<SharedLimits, 'take'>;
}

/** Profile changes per user, every node together: 5, then one every 12 s (each reaches every watcher). */
export const PROFILE_CHANGES: Rule = { name: 'profile', ratePerSec: 1 / 12, burst: 5 };

const tooFast = (): ApiReply => ({
  ...fail(429, 'rate_limited', `at most ${PROFILE_CHANGES.burst} profile changes at once, then one every 12 s`), headers: { 'retry-after': '12' },
});

export function createProfiles(d: ProfileDeps): Pick<Routes, 'get' | 'put' | 'patch'> {
  const announce = (user: User) => d.control.tell({ op: 'profile', user: profileOf(user) });

  async function who(req: RouteRequest): Promise<User | ApiReply> {
    const caller = await sessionOf(d.authenticate, req);
    if ('status' in caller) return caller;
    return caller.user ?? fail(404, 'not_found', 'this user is not in the directory: no profile to edit');
  }

  /** Takes one of the user's changes (PROFILE_CHANGES) for a valid request, just before it is applied. */
  const mayChange = (user: User) => d.limits.take(PROFILE_CHANGES, user.id);

  const patchMe: Route = async (req, body) => {
    const me = await who(req);
    if ('status' in me) return me;
    let displayName: unknown;
    try {
      displayName = (JSON.parse((await body()).toString('utf8')) as { displayName?: unknown }).displayName;
    } catch {
      return fail(400, 'bad_json', 'send {"displayName": "..."} as JSON');
    }
    if (typeof displayName !== 'string') return fail(400, 'bad_request', 'displayName must be a string');
    if (cleanDisplayName(displayName) === undefined) return fail(400, 'bad_request', DISPLAY_NAME_RULE);
    if (!(await mayChange(me))) return tooFast();
    try {
      const user = d.users.setDisplayName(me.id, displayName);
      await announce(user);
      return { status: 200, body: { user: profileOf(user) } };
    } catch (err) {
      if (err instanceof DirectoryError) return fail(400, 'bad_request', err.message);
      throw err;
    }
  };

  const putAvatar: Route = Object.assign(async (req: RouteRequest, body: () => Promise<Buffer>) => {
    const me = await who(req);
    if ('status' in me) return me;
    const type = req.header('content-type').split(';')[0].trim().toLowerCase();
    if (!IMAGE_TYPES[type]) return fail(415, 'bad_request', `send ${Object.keys(IMAGE_TYPES).join(', ')}`);
    let bytes: Buffer;
    try {
      bytes = await body();
    } catch {
      return fail(413, 'too_large', `a picture is at most ${d.avatarMaxBytes} bytes`);
    }
    if (!IMAGE_TYPES[type](bytes)) return fail(400, 'bad_request', `the body is not a ${type} image`);
    if (!(await mayChange(me))) return tooFast();
    const user = d.users.setAvatar(me.id, type, bytes);
    await announce(user);
    return { status: 200, body: { user: profileOf(user) } };
  }, { maxBody: d.avatarMaxBytes });

  const getAvatar: Route = (req) => {
    const avatar = d.users.avatar(req.param(0));
    if (!avatar) return fail(404, 'not_found', 'no picture for this user');
    const etag = `"${avatar.version}"`;
    const headers = { etag, 'cache-control': 'public, max-age=31536000, immutable', 'x-content-type-options': 'nosniff' };
    if (req.header('if-none-match') === etag) return { status: 304, body: '', headers };
    return { status: 200, body: avatar.bytes, headers: { ...headers, 'content-type': avatar.type } };
  };

  return { get: { '/api/users/:id/avatar': getAvatar }, put: { '/api/me/avatar': putAvatar }, patch: { '/api/me': patchMe } };
}
