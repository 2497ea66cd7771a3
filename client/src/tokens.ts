/**
 * The client's token: which one the next attempt presents, and its renewal on the live link.
 *
 * - `forAttempt()`: the token held, unless there is none, it expired locally, or the last link
 *   said why it must be asked again (`want`: 'expired' after a 4001, 'retry' after an attempt
 *   that never got a welcome); then `getToken` is asked. A missing or expired answer is an
 *   UnauthorizedError (the session is over).
 * - `renew(expiresAt)`: on `token_expiring`, `getToken('refresh')`, then the `refresh` command on
 *   the live link; one renewal at a time; a transient failure is tried again every 5 s while the
 *   old token lasts; an UnauthorizedError is not (the server's 4001 then asks 'expired').
 */
import type { RefreshResult } from '../../shared/protocol.js';
import { RequestError, UnauthorizedError } from './errors.js';
import type { NamedTimers } from './timers.js';
import { tokenExpired, type GetToken, type TokenReason } from './token.js';

export interface TokenOptions {
  getToken?: GetToken;
  token?: string;
  now: () => number;
  timers: NamedTimers<'renew'>;
  refresh(token: string): Promise<RefreshResult>;
  refreshed(expiresAt: number): void;
  failed(message: string): void;
}

export const RENEW_RETRY_MS = 5000;

export class Tokens {
  private token: string | undefined;
  /** Why the next attempt must ask `getToken` even with a token held ('connect': it need not). */
  want: TokenReason = 'connect';
  private renewing = false;

  constructor(private readonly o: TokenOptions) {}

  /** Start over: a new session presents nothing of the last one. */
  forget(): void {
    this.token = undefined;
    this.want = 'connect';
  }

  async forAttempt(): Promise<string> {
    const ask = async (reason: TokenReason) => (this.o.getToken ? this.o.getToken({ reason }) : this.o.token);
    const held = this.token;
    const token = held === undefined || tokenExpired(held, this.o.now()) ? await ask(held === undefined ? this.want : 'expired')
      : this.want !== 'connect' ? await ask(this.want) : held;
    if (!token) throw new UnauthorizedError('no token');
    if (tokenExpired(token, this.o.now())) throw new UnauthorizedError('the token has expired', 'expired');
    this.token = token;
    this.want = 'connect';
    return token;
  }

  async renew(expiresAt: number): Promise<void> {
    if (!this.o.getToken || this.renewing || this.o.timers.has('renew')) return;
    this.renewing = true;
    try {
      const token = await this.o.getToken({ reason: 'refresh' });
      const ack = await this.o.refresh(token);
      this.token = token;
      this.o.refreshed(ack.expiresAt);
    } catch (err) {
      if (err instanceof RequestError && err.code === 'disconnected') return; // the reconnect asks again
      this.o.failed(`token renewal failed: ${(err as Error).message}`);
      const retry = !(err instanceof UnauthorizedError) && this.o.now() + RENEW_RETRY_MS < expiresAt;
      if (retry) this.o.timers.set('renew', RENEW_RETRY_MS, () => void this.renew(expiresAt));
    } finally {
      this.renewing = false;
    }
  }
}
