/**
 * The package's RealtimeClient wired to this browser, for every page: same-origin `/ws`, and
 * tokens from the signed-in session (auth.ts).
 *
 * `getToken` (asked by the client, see client/README.md):
 * - 'connect': the stored token;
 * - 'refresh' (before expiry, on the live socket): POST /api/refresh; the new session is stored
 *   (`store`) before the token is handed over, so a reload uses it too;
 * - 'expired' (the server closed 4001): the session cannot be renewed any more: UnauthorizedError;
 *   unless the stored token is still good (a renewal stored it, but its `refresh` never reached
 *   the socket): then that one;
 * - 'retry' (a reconnect whose last attempt never got in; a browser cannot see a 401): GET
 *   /api/me with the token; a 401 ends the session, anything else (or no answer) lets the
 *   reconnect go ahead with the stored token.
 * The browser's `online` event skips the rest of a backoff wait.
 */
import { RealtimeClient, tokenExpired, UnauthorizedError, type TokenReason } from '../../client/src/index.js';
import { refreshToken, type Session } from './auth.js';

export interface BrowserClientOptions {
  session: () => Session | undefined;
  store: (session: Session) => void;
  refreshed?: (expiresAt: number) => void;
  failed?: (message: string) => void;
}

export function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

/** The stored token; on 'retry', first asks /api/me whether it is still good (a 401 ends the session). */
async function tokenFor(o: BrowserClientOptions, reason: TokenReason): Promise<string> {
  const current = o.session();
  if (!current) throw new UnauthorizedError('signed out');
  if (reason === 'expired' && tokenExpired(current.accessToken, Date.now())) throw new UnauthorizedError('Your session expired. Please sign in again.', 'expired');
  if (reason === 'refresh') {
    const res = await refreshToken(fetch, current.accessToken);
    if (!res.ok) throw res.retry ? new Error(res.message) : new UnauthorizedError(res.message, 'expired');
    o.store({ ...current, accessToken: res.token, expiresAt: res.expiresAt });
    return res.token;
  }
  if (reason === 'retry') {
    const status = await fetch('/api/me', { headers: { authorization: `Bearer ${current.accessToken}` }, cache: 'no-store' })
      .then((r) => r.status, () => undefined); // unreachable: let the WebSocket attempt decide
    if (status === 401) throw new UnauthorizedError('Your session expired or was revoked. Please sign in again.');
  }
  return current.accessToken;
}

export function browserClient(o: BrowserClientOptions): { client: RealtimeClient; stop: () => void } {
  const client = new RealtimeClient(wsUrl(), { getToken: ({ reason }) => tokenFor(o, reason) });
  const done = new AbortController();
  window.addEventListener('online', () => client.reconnectNow(), { signal: done.signal });
  client.on('refreshed', ({ expiresAt }) => o.refreshed?.(expiresAt));
  client.on('error', (e) => {
    if (e.code === 'token') o.failed?.(e.message);
  });
  return {
    client,
    stop: () => {
      done.abort();
      client.close();
    },
  };
}
