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
 * Body: `{"events":[{id,type,userId,username,action?,node,reason,ts,seq} | {id,type:"gap",reason,after,through}]}`.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sign } from './signature.js';
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

  /** True after a 2xx. */
  private async post(items: WebhookItem[]): Promise<boolean> {
    const body = webhookBody(items);
    try {
      const res = await fetch(this.o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-gateway-signature': sign(this.o.secret, body) },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return true;
      this.fail(`status_${res.status}`, { status: res.status });
    } catch (err) {
      this.fail((err as Error).name === 'TimeoutError' ? 'timeout' : 'network', { err });
    }
    return false;
  }

  private fail(cause: string, details: object): void {
    this.o.metrics?.webhookFailed.inc({ cause: cause.startsWith('status_') ? 'status' : cause });
    this.o.metrics?.webhookRetried.inc();
    this.o.log.warn({ ...details, cause, retryInMs: this.backoff }, 'webhook delivery failed; will retry');
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
