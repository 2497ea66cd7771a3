/**
 * Signing in over HTTP, renewing the token, and keeping the session in storage. No DOM:
 * `fetch` and `Storage` are passed in. The stored session is only a cache: the server decides
 * on every use.
 */
import type { UserInfo } from '../../shared/protocol.js';
import { tokenExpired } from '../../client/src/index.js';

export type RenewResult =
  | { ok: true; token: string; expiresAt: number }
  | { ok: false; retry: boolean; message: string };

export interface Session {
  accessToken: string;
  /** Millisecond epoch, from the login answer. */
  expiresAt: number;
  user: UserInfo;
}

export type LoginResult =
  | { ok: true; session: Session }
  | { ok: false; reason: 'wrong_credentials' | 'rate_limited' | 'unavailable' | 'invalid'; message: string };

export const SESSION_KEY = 'gateway.session';

/** The part of `fetch` these modules use (the browser's fits). */
export type HttpFetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string | Blob }) => Promise<{
  status: number;
  json(): Promise<unknown>;
}>;

function isSession(v: unknown): v is Session {
  const s = v as Partial<Session> | null;
  return typeof s === 'object' && s !== null && typeof s.accessToken === 'string' && typeof s.expiresAt === 'number'
    && typeof s.user === 'object' && s.user !== null && typeof s.user.id === 'string';
}

/** POST /api/login. Never throws: a network failure is `unavailable`. */
export async function login(fetchFn: HttpFetch, username: string, password: string): Promise<LoginResult> {
  let res: Awaited<ReturnType<HttpFetch>>;
  try {
    res = await fetchFn('/api/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }),
    });
  } catch {
    return { ok: false, reason: 'unavailable', message: 'The server cannot be reached. Check your connection and try again.' };
  }
  if (res.status === 401) return { ok: false, reason: 'wrong_credentials', message: 'Wrong username or password.' };
  if (res.status === 429) return { ok: false, reason: 'rate_limited', message: 'Too many attempts. Wait a minute, then try again.' };
  if (res.status === 400) return { ok: false, reason: 'invalid', message: 'Enter a username and a password.' };
  const body: unknown = await res.json().catch(() => undefined);
  if (res.status !== 200 || !isSession(body)) {
    return { ok: false, reason: 'unavailable', message: `Sign-in is unavailable right now (HTTP ${res.status}). Try again later.` };
  }
  return { ok: true, session: { accessToken: body.accessToken, expiresAt: body.expiresAt, user: body.user } };
}

/**
 * POST /api/refresh with the current token: a newer one for the same user. Never throws.
 * 401 (token refused) and 404 (refresh disabled: tokens come from an identity provider) are
 * final (`retry: false`); a network failure or any other status may be retried.
 */
export async function refreshToken(fetchFn: HttpFetch, token: string): Promise<RenewResult> {
  let res: Awaited<ReturnType<HttpFetch>>;
  try {
    res = await fetchFn('/api/refresh', { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  } catch {
    return { ok: false, retry: true, message: 'The server cannot be reached to renew the session.' };
  }
  if (res.status === 401 || res.status === 404) return { ok: false, retry: false, message: 'Your session cannot be renewed.' };
  const body = (await res.json().catch(() => undefined)) as { accessToken?: unknown; expiresAt?: unknown } | undefined;
  if (res.status !== 200 || typeof body?.accessToken !== 'string' || typeof body.expiresAt !== 'number') {
    return { ok: false, retry: true, message: `Renewing the session failed (HTTP ${res.status}).` };
  }
  return { ok: true, token: body.accessToken, expiresAt: body.expiresAt };
}

/** The stored session, unless missing, malformed or expired (then it is removed). */
export function loadSession(storage: Pick<Storage, 'getItem' | 'removeItem'>, now: number): Session | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(storage.getItem(SESSION_KEY) ?? 'null');
  } catch {
    parsed = undefined; // corrupt entry: treated as signed out and removed below
  }
  if (isSession(parsed) && parsed.expiresAt > now && !tokenExpired(parsed.accessToken, now)) return parsed;
  storage.removeItem(SESSION_KEY);
  return undefined;
}

export function saveSession(storage: Pick<Storage, 'setItem'>, session: Session): void {
  storage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession(storage: Pick<Storage, 'removeItem'>): void {
  storage.removeItem(SESSION_KEY);
}
