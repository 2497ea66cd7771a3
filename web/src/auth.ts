/**
 * Signing in over HTTP and keeping the session in storage. No DOM: `fetch` and `Storage`
 * are passed in. The stored session is only a cache: the server decides on every use.
 */
import type { UserInfo } from '../../shared/protocol.js';
import { tokenExpired } from './token.js';

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

type PostJson = (url: string, init: { method: 'POST'; headers: Record<string, string>; body: string }) => Promise<{
  status: number;
  json(): Promise<unknown>;
}>;

function isSession(v: unknown): v is Session {
  const s = v as Partial<Session> | null;
  return typeof s === 'object' && s !== null && typeof s.accessToken === 'string' && typeof s.expiresAt === 'number'
    && typeof s.user === 'object' && s.user !== null && typeof s.user.id === 'string';
}

/** POST /api/login. Never throws: a network failure is `unavailable`. */
export async function login(fetchFn: PostJson, username: string, password: string): Promise<LoginResult> {
  let res: Awaited<ReturnType<PostJson>>;
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
