/**
 * The signed-in user's profile over HTTP. No DOM: `fetch` is passed in. Never throws.
 *
 * - `saveDisplayName`: PATCH /api/me `{"displayName"}`.
 * - `uploadAvatar`: PUT /api/me/avatar with the file as the raw body and its own type as the
 *   Content-Type (the gateway checks both against PNG, JPEG, GIF, WebP and its size limit).
 * - 200 answers `{ ok: true, user }` (the new profile; the gateway also pushes it live as a
 *   `profile` frame); any other status `{ ok: false, status, message }` with the server's own
 *   message (e.g. 413 too large, 415 wrong type, 400 not an image or a bad name).
 */
import type { UserInfo } from '../../shared/protocol.js';
import type { HttpFetch } from './auth.js';

export type ProfileResult = { ok: true; user: UserInfo } | { ok: false; status: number; message: string };

async function send(fetchFn: HttpFetch, url: string, init: Parameters<HttpFetch>[1]): Promise<ProfileResult> {
  let res: Awaited<ReturnType<HttpFetch>>;
  try {
    res = await fetchFn(url, init);
  } catch {
    return { ok: false, status: 0, message: 'The server cannot be reached. Try again.' };
  }
  const body = (await res.json().catch(() => undefined)) as { user?: UserInfo; message?: unknown } | undefined;
  if (res.status === 200 && typeof body?.user?.id === 'string') return { ok: true, user: body.user };
  const message = typeof body?.message === 'string' ? body.message : `HTTP ${res.status}`;
  return { ok: false, status: res.status, message: res.status === 401 ? 'Your session expired. Sign in again.' : message };
}

export function saveDisplayName(fetchFn: HttpFetch, token: string, displayName: string): Promise<ProfileResult> {
  return send(fetchFn, '/api/me', {
    method: 'PATCH',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ displayName }),
  });
}

export function uploadAvatar(fetchFn: HttpFetch, token: string, file: Blob): Promise<ProfileResult> {
  return send(fetchFn, '/api/me/avatar', {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': file.type || 'application/octet-stream' },
    body: file,
  });
}
