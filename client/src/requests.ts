/**
 * Requests waiting for their answer: each id is settled exactly once, by its ack, its error,
 * its timeout or the loss of the connection, whichever comes first.
 */
import type { RequestId } from '../../shared/protocol.js';
import { RequestError } from './errors.js';
import type { Timers } from './timers.js';

interface Pending { resolve(result: unknown): void; reject(err: RequestError): void; timer: unknown }

export class PendingRequests {
  private readonly pending = new Map<RequestId, Pending>();

  constructor(private readonly timers: Timers) {}

  /** A promise for the answer to `id`; rejects with 'timeout' after `timeoutMs`. */
  add<T>(id: RequestId, what: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(id);
        reject(new RequestError('timeout', `${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
    });
  }

  has(id: RequestId): boolean {
    return this.pending.has(id);
  }

  resolve(id: RequestId, result: unknown): void {
    this.take(id)?.resolve(result);
  }

  reject(id: RequestId, err: RequestError): void {
    this.take(id)?.reject(err);
  }

  /** Reject everything still waiting (the connection is gone). */
  rejectAll(err: RequestError): void {
    for (const id of [...this.pending.keys()]) this.reject(id, err);
  }

  private take(id: RequestId): Pending | undefined {
    const p = this.pending.get(id);
    if (!p) return undefined;
    this.pending.delete(id);
    this.timers.clearTimeout(p.timer);
    return p;
  }
}
