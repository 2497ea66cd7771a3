/**
 * The in-process twin of the Redis broker, for unit tests and single-node runs. Several
 * MemoryBrokers on one bus behave like several nodes on one Redis:
 * - delivery is asynchronous (one microtask per receiving node and message), in publish order;
 * - a node never receives its own plain publishes; history publishes reach every subscribed
 *   node, the publisher included, with their position (see types.ts);
 * - only nodes subscribed to the topic receive, checked both when publishing and when
 *   delivering (so `unsubscribe` takes effect at once);
 * - `bus.setReachable(false)` simulates an outage: publishes and reads reject, `isReady()` is
 *   false, subscriptions are kept and work again once the bus is reachable (`onResumed` then);
 * - `bus.flush()` loses every stream, as a Redis restarted without persistence (new epochs).
 */
import { randomBytes } from 'node:crypto';
import { compareOffsets, ORIGIN } from '../../../shared/offsets.js';
import type { Logger } from '../log.js';
import type { Broker, Delivery, HistoryPolicy, HistoryQuery, HistoryRead, StreamPosition } from './types.js';

/** One topic's history: what the Redis stream and its meta hash hold (see lua/publish.lua). */
class MemoryStream {
  readonly epoch = randomBytes(6).toString('base64url');
  top = ORIGIN;
  /** Highest offset trimmed away: recovery from before it is impossible. */
  floor = ORIGIN;
  expiresAt = 0;
  readonly entries: Array<{ offset: string; at: number; payload: string }> = [];

  append(offset: string, at: number, payload: string, policy: HistoryPolicy): string {
    const prev = this.top;
    this.entries.push({ offset, at, payload });
    this.top = offset;
    const minAt = at - policy.ageMs;
    while (this.entries.length > policy.count || this.entries[0].at < minAt) this.floor = this.entries.shift()!.offset;
    this.expiresAt = at + policy.ageMs;
    return prev;
  }
}

export interface MemoryBus {
  /** Simulate the bus going away (`false`) and coming back (`true`). */
  setReachable(reachable: boolean): void;
  isReachable(): boolean;
  /** Lose every stream (the bus restarted empty). */
  flush(): void;
  /** @internal used by MemoryBroker */
  readonly nodes: Set<MemoryBroker>;
  /** @internal the streams of history topics, and the id clock of Redis streams */
  readonly streams: Map<string, MemoryStream>;
  /** @internal */
  nextOffset(): string;
}

export function createMemoryBus(now: () => number = Date.now): MemoryBus {
  let reachable = true;
  let lastMs = 0;
  let seq = 0;
  const streams = new Map<string, MemoryStream>();
  return {
    nodes: new Set(),
    streams,
    setReachable(value) {
      const back = value && !reachable;
      reachable = value;
      if (back) for (const node of this.nodes) node.resumed();
    },
    isReachable: () => reachable,
    flush: () => streams.clear(),
    nextOffset: () => {
      const ms = now();
      if (ms > lastMs) [lastMs, seq] = [ms, 0];
      else seq += 1;
      return `${lastMs}-${seq}`;
    },
  };
}

type Handler = (delivery: Delivery) => void;

export class MemoryBroker implements Broker {
  private readonly topics = new Set<string>();
  private handler: Handler | undefined;
  private onResume: (() => void) | undefined;
  private closed = false;

  /**
   * `logger`: where a throwing message handler is reported. Without one the error is
   * rethrown from a fresh task, so a test sees it as an uncaught exception.
   */
  constructor(private readonly bus: MemoryBus, readonly nodeId: string, private readonly logger?: Logger, private readonly now = Date.now) {
    bus.nodes.add(this);
  }

  private ensureUp(): void {
    if (this.closed) throw new Error('broker closed');
    if (!this.bus.isReachable()) throw new Error('broker unavailable: memory bus unreachable');
  }

  /** The live stream of `topic`, created (new epoch) when absent or expired. */
  private stream(topic: string): MemoryStream {
    let s = this.bus.streams.get(topic);
    if (!s || s.expiresAt <= this.now()) this.bus.streams.set(topic, (s = new MemoryStream()));
    return s;
  }

  async publish(topic: string, payload: string, opts: { history?: HistoryPolicy } = {}): Promise<Partial<StreamPosition>> {
    this.ensureUp();
    if (!opts.history) {
      for (const node of this.bus.nodes) {
        if (node !== this && node.topics.has(topic)) queueMicrotask(() => node.deliver({ topic, payload }));
      }
      return {};
    }
    const s = this.stream(topic);
    const offset = this.bus.nextOffset();
    const prev = s.append(offset, this.now(), payload, opts.history);
    const delivery: Delivery = { topic, payload, position: { offset, prev, epoch: s.epoch } };
    for (const node of this.bus.nodes) if (node.topics.has(topic)) queueMicrotask(() => node.deliver(delivery));
    return { offset, epoch: s.epoch };
  }

  async history(topic: string, q: HistoryQuery): Promise<HistoryRead> {
    this.ensureUp();
    const s = this.stream(topic);
    if (s.entries.length === 0 && s.expiresAt === 0) s.expiresAt = this.now() + q.policy.ageMs;
    const top = { offset: s.top, epoch: s.epoch };
    if (q.since) {
      const { offset, epoch } = q.since;
      const ok = (epoch === undefined || epoch === s.epoch) && compareOffsets(offset, s.floor) >= 0 && compareOffsets(offset, s.top) <= 0;
      if (!ok) return { recovered: false, messages: [], top };
      const after = s.entries.filter((e) => compareOffsets(e.offset, offset) > 0).slice(0, q.limit);
      return { recovered: true, messages: after.map(({ offset: o, payload }) => ({ offset: o, payload })), top };
    }
    const n = Math.max(0, q.last ?? 0);
    const last = n === 0 ? [] : s.entries.slice(-n);
    return { messages: last.map(({ offset, payload }) => ({ offset, payload })), top };
  }

  async subscribe(topic: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    this.topics.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  onResumed(handler: () => void): void {
    this.onResume = handler;
  }

  /** @internal the bus is reachable again */
  resumed(): void {
    if (!this.closed) this.onResume?.();
  }

  isReady(): boolean {
    return !this.closed && this.bus.isReachable();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
    this.bus.nodes.delete(this);
  }

  private deliver(delivery: Delivery): void {
    if (this.closed || !this.topics.has(delivery.topic) || !this.handler) return;
    try {
      this.handler(delivery);
    } catch (err) {
      if (!this.logger) {
        setImmediate(() => {
          throw err;
        });
        return;
      }
      this.logger.error({ err, topic: delivery.topic }, 'broker message handler threw');
    }
  }
}
