/**
 * Delivers the event stream to WEBHOOK_URL, from one node of the cluster at a time (the lease).
 *
 * Contract:
 * - at-least-once, in stream order: a batch is acknowledged only after a 2xx; until then it is
 *   held and sent again (backoff 1 s doubling to 60 s). If this node dies or loses the lease,
 *   the next deliverer takes the unacknowledged entries over (EventLog.next) and sends them
 *   first. A receiver dedupes on each event's `id` (the stream id).
 * - one request in flight, bounded by `timeoutMs`; the loop runs beside socket traffic and
 *   never holds it up: a slow receiver only grows the lag.
 * - nothing is skipped silently: entries that left the stream before delivery (trimmed by
 *   EVENTS_MAXLEN, or the stream was recreated) arrive as one `{"type":"gap"}` item.
 * - events outside WEBHOOK_EVENTS are acknowledged without a request.
 * - the receiver cannot make this node hold more than a few KB of its answer, nor send the
 *   signed batch elsewhere: redirects are never followed (a 3xx is a failed delivery, retried
 *   to WEBHOOK_URL), and at most RESPONSE_READ_BYTES of the body are read (see `postOnce`).
 * Body: `{"events":[{id,type,userId,username,action?,node,reason,ts,seq} | {id,type:"gap",reason,after,through}]}`.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { SIGNATURE_HEADER, sign } from './signature.js';
import { itemsOf, webhookBody } from './payloads.js';
import type { EventBatch, EventLog } from './types.js';
import type { WebhookItem } from '../../../shared/events.js';

export interface WebhookOptions {
  events: EventLog;
  url: string;
  secret: string;
  /** Event types to send (gaps are always sent); undefined: all. */
  types?: ReadonlySet<string>;
  batch: number;
  timeoutMs: number;
  log: Logger;
  metrics?: Pick<Metrics, 'webhookDelivered' | 'webhookRetried' | 'webhookFailed' | 'webhookGaps' | 'webhookLag'>;
  /** Poll interval when the stream is idle (default 250 ms). */
  pollMs?: number;
  /** First retry delay, doubled up to `maxBackoffMs` (defaults 1 s and 60 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
}

export class WebhookDispatcher {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private held: EventBatch | undefined;
  private backoff: number;
  private lagCheckedAt = 0;
  private readonly leaseMs: number;

  constructor(private readonly o: WebhookOptions) {
    this.backoff = o.backoffMs ?? 1000;
    this.leaseMs = Math.max(10_000, 2 * o.timeoutMs + 2000);
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.o.events.resign().catch(() => {});
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.step();
      } catch (err) {
        this.o.log.warn({ err }, 'event stream read failed; retrying');
        this.held = undefined;
        await this.sleep(this.retryDelay());
      }
    }
  }

  private async step(): Promise<void> {
    if (!(await this.o.events.lead(this.leaseMs))) {
      this.held = undefined; // another deliverer owns the stream (and our pending entries)
      return this.sleep(this.leaseMs / 4);
    }
    await this.updateLag();
    this.held ??= await this.o.events.next(this.o.batch);
    const batch = this.held;
    if (batch.events.length === 0 && !batch.gap) {
      this.held = undefined;
      return this.sleep(this.o.pollMs ?? 250);
    }
    const items = itemsOf(batch, this.o.types);
    if (items.length > 0 && !(await this.post(items))) return this.sleep(this.retryDelay());
    await this.o.events.ack(batch.events.map((e) => e.id));
    this.held = undefined;
    this.backoff = this.o.backoffMs ?? 1000;
    this.o.metrics?.webhookDelivered.inc(items.filter((i) => i.type !== 'gap').length);
    if (batch.gap) this.o.metrics?.webhookGaps.inc();
  }

  /** True after a 2xx; anything else is logged and counted as a failure (the caller retries). */
  private async post(items: WebhookItem[]): Promise<boolean> {
    const body = webhookBody(items);
    try {
      const res = await postOnce(this.o.url, body, sign(this.o.secret, body), this.o.timeoutMs);
      if (res.ok) return true;
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location')?.slice(0, 200);
        this.fail('redirect', { status: res.status, location }, 'webhook redirect not followed; will retry');
      } else {
        this.fail(`status_${res.status}`, { status: res.status });
      }
    } catch (err) {
      this.fail((err as Error).name === 'TimeoutError' ? 'timeout' : 'network', { err });
    }
    return false;
  }

  /** `cause`: status_<code>, redirect, timeout or network (the metric's label folds status_* into `status`). */
  private fail(cause: string, details: object, msg = 'webhook delivery failed; will retry'): void {
    this.o.metrics?.webhookFailed.inc({ cause: cause.startsWith('status_') ? 'status' : cause });
    this.o.metrics?.webhookRetried.inc();
    this.o.log.warn({ ...details, cause, retryInMs: this.backoff }, msg);
  }

  private retryDelay(): number {
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, this.o.maxBackoffMs ?? 60_000);
    return delay;
  }

  private async updateLag(): Promise<void> {
    if (!this.o.metrics || Date.now() - this.lagCheckedAt < 5000) return;
    this.lagCheckedAt = Date.now();
    const lag = await this.o.events.lag().catch(() => undefined);
    if (lag !== undefined) this.o.metrics.webhookLag.set(lag);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** The most of a receiver's answer body read (after any decoding); the rest is never read. */
const RESPONSE_READ_BYTES = 4096;

/**
 * One signed POST; resolves with the response once its body is dealt with, rejects on a network
 * error or after `timeoutMs` (TimeoutError) for the whole exchange. Contract:
 * - no redirect is followed (`redirect: 'manual'`): the 3xx itself comes back, the body goes to
 *   `url` and nowhere else;
 * - it asks for `accept-encoding: identity`; a receiver that compresses anyway is decoded
 *   lazily by fetch, so the read bound below also bounds the inflated bytes;
 * - the status decides, the body never does: at most RESPONSE_READ_BYTES (plus the one chunk
 *   that crosses it) are read, then the body is cancelled, which closes the connection rather
 *   than reading its rest. A short answer ends within the bound and keeps the connection for reuse.
 */
async function postOnce(url: string, body: string, signature: string, timeoutMs: number): Promise<Response> {
  const res = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/json', 'accept-encoding': 'identity', [SIGNATURE_HEADER]: signature },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await discardBody(res.body, RESPONSE_READ_BYTES);
  return res;
}

/** Reads `body` until it ends or `limit` bytes were read, then cancels it. Never rejects. */
async function discardBody(body: ReadableStream<Uint8Array> | null, limit: number): Promise<void> {
  if (!body) return;
  const reader = body.getReader();
  try {
    // Bounded by bytes, and by reads in case a stream hands out empty chunks.
    for (let read = 0, reads = 0; read <= limit && reads <= limit; reads += 1) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
  } catch {
    // the body failed or the timeout aborted it: the status has already decided
  } finally {
    await reader.cancel().catch(() => {});
  }
}
