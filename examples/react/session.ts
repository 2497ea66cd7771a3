/**
 * The signed-in session, as the main page (/) keeps it: localStorage `gateway.session`,
 * `{accessToken, expiresAt, user}` (web/src/auth.ts). This page never signs in itself and never
 * puts a token in a URL: it reads the stored session, renews the token when the gateway warns
 * that it expires (POST /api/refresh, stored for the next load), and forgets the session when it
 * is over. Sign in at / first.
 */
import { RealtimeClient, UnauthorizedError, tokenExpired, type TokenReason, type UserInfo } from '@realtime-gateway/client';

export const SESSION_KEY = 'gateway.session';

export interface Session {
  accessToken: string;
  /** Millisecond epoch. */
  expiresAt: number;
  user: UserInfo;
}

/** The stored session, unless missing, malformed or expired. */
export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION_KEY) ?? 'null') as Partial<Session> | null;
    if (typeof s?.accessToken !== 'string' || typeof s.expiresAt !== 'number' || typeof s.user?.id !== 'string') return undefined;
    if (s.expiresAt <= Date.now() || tokenExpired(s.accessToken, Date.now())) return undefined;
    return s as Session;
  } catch {
    return undefined;
  }
}

export function forgetSession(): void {
  localStorage.removeItem(SESSION_KEY);
}

/** A client for this origin's gateway (`/ws`) that takes its tokens from the session. */
export function sessionClient(session: Session): RealtimeClient {
  let current = session;
  const getToken = async ({ reason }: { reason: TokenReason }): Promise<string> => {
    if (reason === 'expired') throw new UnauthorizedError('Your session expired. Sign in again.', 'expired');
    if (reason === 'refresh') {
      const res = await fetch('/api/refresh', { method: 'POST', headers: { authorization: `Bearer ${current.accessToken}` } });
      if (res.status === 401 || res.status === 404) throw new UnauthorizedError('Your session cannot be renewed.', 'expired');
      if (!res.ok) throw new Error(`Renewing the session failed (HTTP ${res.status}).`);
      const body = (await res.json()) as { accessToken: string; expiresAt: number };
      current = { ...current, accessToken: body.accessToken, expiresAt: body.expiresAt };
      localStorage.setItem(SESSION_KEY, JSON.stringify(current));
    }
    return current.accessToken;
  };
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const client = new RealtimeClient(url, { getToken });
  window.addEventListener('online', () => client.reconnectNow());
  return client;
}
