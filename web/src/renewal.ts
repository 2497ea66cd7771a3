/**
 * Keeps a live connection's token fresh, so a signed-in page is never closed with 4001.
 *
 * Contract:
 * - On `token_expiring`, `renew()` is asked for a newer token (the page: POST /api/refresh).
 *   It resolves `{ ok: true, token, expiresAt }` once the caller has STORED the token, so the
 *   client's `token()` returns it from then on and every reconnect uses it; or `{ ok: false,
 *   retry, message }`.
 * - With a new token, a connected client sends `{type:'refresh', token}` on the live socket;
 *   its ack (`{expiresAt}`) reports `refreshed`. Not connected: nothing to send, the reconnect
 *   presents the new token, and `refreshed` is reported with the HTTP answer's `expiresAt`.
 * - `retry: true` (network down, 5xx) is tried again every `retryMs` while the old token is
 *   still valid. `retry: false` (401: the session is over), running out of time, or the server
 *   refusing the `refresh` command reports `failed`: the socket will be closed 4001 at
 *   `expiresAt` and the client then stops with `authFailure`.
 * - One renewal at a time; `stop()` (the returned function) cancels a pending retry.
 */
import type { GatewayClient, Timers } from './client.js';
import { RequestError } from './requests.js';

export type RenewResult =
  | { ok: true; token: string; expiresAt: number }
  | { ok: false; retry: boolean; message: string };

export interface RenewalOptions {
  renew: () => Promise<RenewResult>;
  timers: Timers;
  now: () => number;
  /** Wait between attempts after a transient failure. Default 5 s. */
  retryMs?: number;
  refreshed?: (expiresAt: number) => void;
  failed?: (info: { expiresAt: number; message: string }) => void;
}

export function keepTokenFresh(client: GatewayClient, o: RenewalOptions): () => void {
  let busy = false;
  let stopped = false;
  let retry: unknown;

  async function attempt(expiresAt: number): Promise<void> {
    retry = undefined;
    busy = true;
    const res = await o.renew().catch((err: Error): RenewResult => ({ ok: false, retry: true, message: err.message }));
    if (stopped) return;
    if (!res.ok) {
      const retryMs = o.retryMs ?? 5000;
      if (res.retry && o.now() + retryMs < expiresAt) {
        retry = o.timers.setTimeout(() => void attempt(expiresAt), retryMs);
        return; // still busy: the retry is this renewal
      }
      busy = false;
      return o.failed?.({ expiresAt, message: res.message });
    }
    try {
      const ack = await client.request<{ expiresAt: number }>({ type: 'refresh', token: res.token });
      busy = false;
      o.refreshed?.(ack.expiresAt);
    } catch (err) {
      busy = false;
      const code = err instanceof RequestError ? err.code : 'internal';
      if (code === 'disconnected' || code === 'timeout') return o.refreshed?.(res.expiresAt); // the reconnect presents the new token
      o.failed?.({ expiresAt, message: (err as Error).message });
    }
  }

  const off = client.on('tokenExpiring', ({ expiresAt }) => {
    if (!busy && !stopped) void attempt(expiresAt);
  });
  return () => {
    stopped = true;
    off();
    if (retry !== undefined) o.timers.clearTimeout(retry);
  };
}
