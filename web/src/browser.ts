/**
 * A GatewayClient wired to this browser, for every page: same-origin `/ws` and `/api/me`,
 * window timers, and the token kept fresh through POST /api/refresh (renewal.ts).
 *
 * Contract: `session()` is read at every connect and renewal; `store(session)` receives the
 * renewed session and must make `session()` return it (the pages also save it to localStorage,
 * so a reload uses it). Call `stop()` instead of `client.stop()` to end the renewal as well.
 */
import { CloseCodes } from '../../shared/protocol.js';
import { refreshToken, type Session } from './auth.js';
import { GatewayClient, type Timers } from './client.js';
import { keepTokenFresh } from './renewal.js';

export interface BrowserClientOptions {
  session: () => Session | undefined;
  store: (session: Session) => void;
  refreshed?: (expiresAt: number) => void;
  failed?: (info: { expiresAt: number; message: string }) => void;
}

export function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

export function browserClient(o: BrowserClientOptions): { client: GatewayClient; stop: (code?: number, reason?: string) => void } {
  const timers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) };
  const client = new GatewayClient({
    url: wsUrl(),
    meUrl: '/api/me',
    token: () => o.session()?.accessToken,
    WebSocket,
    fetch: (url, init) => fetch(url, { ...init, cache: 'no-store' }),
    timers,
    random: Math.random,
    now: Date.now,
  });
  const stopRenewal = keepTokenFresh(client, {
    timers,
    now: Date.now,
    refreshed: o.refreshed,
    failed: o.failed,
    renew: async () => {
      const current = o.session();
      if (!current) return { ok: false, retry: false, message: 'signed out' };
      const res = await refreshToken(fetch, current.accessToken);
      if (res.ok) o.store({ ...current, accessToken: res.token, expiresAt: res.expiresAt });
      return res;
    },
  });
  const done = new AbortController();
  window.addEventListener('online', () => client.retryNow(), { signal: done.signal });
  return {
    client,
    stop: (code = CloseCodes.normal, reason = 'signed out') => {
      done.abort();
      stopRenewal();
      client.stop(code, reason);
    },
  };
}
