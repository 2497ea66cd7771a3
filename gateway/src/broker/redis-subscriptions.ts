/**
 * The topics one node wants from Redis, kept subscribed across reconnects, for the broker
 * (./redis.ts). `topics` is the source of truth, whatever Redis currently has.
 *
 * classic (one Redis, Sentinel; names from ./names.ts): SUBSCRIBE / UNSUBSCRIBE on one
 * connection. ioredis re-subscribes by itself (`autoResubscribe`), and on every 'ready' the
 * whole wanted set is re-applied and what was left meanwhile unsubscribed, so changes made
 * while Redis was away are settled too (both commands are idempotent in Redis and in ioredis).
 * Live delivery is back (onResumed) once that SUBSCRIBE is confirmed.
 *
 * sharded (an ioredis Cluster with `shardedSubscribers: true`): SSUBSCRIBE / SUNSUBSCRIBE,
 * which ioredis sends on one connection per primary, chosen by the channel's slot. ioredis
 * keeps its own per-slot channel lists and re-subscribes them itself whenever a primary's
 * connection was lost or the slot map changed, then emits 'subscribersReady'. Re-sending a
 * topic it already has would append a duplicate to its list at every reconnect, so this class
 * re-sends only what ioredis may not have (`retry`: subscribed while the cluster was down, not
 * confirmed, or found missing by a probe), unsubscribes `stale` topics, and confirms the rest
 * with one probe round trip per wanted topic on that topic's connection (names.probe). (A probe
 * that raced ioredis's own re-subscribe can leave one duplicate in its list: harmless to Redis.) A Cluster client stays 'ready'
 * while single primaries are away, so a lost connection ('-node', 'close') marks the
 * subscriptions interrupted (not live) until such a settle succeeds; that settle is the resume.
 * Settles run on 'subscribersReady', and every `timeoutMs` while one is due.
 */
import type { Redis } from 'ioredis';
import { withDeadline } from '../deadline.js';
import type { Logger } from '../log.js';
import type { TopicNames } from './names.js';

export interface SubscriptionsOptions {
  subscriber: Redis;
  names: TopicNames;
  /** A subscribe (or probe) not confirmed within this time rejects. */
  timeoutMs: number;
  logger?: Logger;
  /** Every message on a wanted topic's channel, raw. */
  onMessage: (topic: string, message: string) => void;
}

/** Rejects with a 'broker unavailable' error when Redis has not confirmed `what` within `ms`. */
export function confirmed<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, () => new Error(`broker unavailable: ${what} not confirmed within ${ms} ms`));
}

export class RedisSubscriptions {
  private readonly sub: Redis;
  private readonly names: TopicNames;
  private readonly ms: number;
  private readonly logger?: Logger;
  private readonly topics = new Set<string>();
  /** Topics left while their unsubscribe could not be confirmed: unsubscribed on the next settle. */
  private readonly stale = new Set<string>();
  /** Sharded: wanted topics ioredis may not have been given; sent again on the next settle. */
  private readonly retry = new Set<string>();
  private onResume: (() => void) | undefined;
  private everReady: boolean;
  private interrupted = false;
  private settling = false;
  private again = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly events: Array<[string, (...args: string[]) => void]>;

  constructor(private readonly opts: SubscriptionsOptions) {
    this.sub = opts.subscriber;
    this.names = opts.names;
    this.ms = opts.timeoutMs;
    this.logger = opts.logger;
    this.everReady = this.sub.status === 'ready';
    this.events = this.names.sharded
      ? [['smessage', this.onRedisMessage], ['subscribersReady', this.onShardsReady], ['-node', this.onShardLost], ['close', this.onShardLost]]
      : [['message', this.onRedisMessage], ['ready', this.onClassicReady]];
    for (const [event, fn] of this.events) this.sub.on(event, fn);
  }

  onResumed(handler: () => void): void {
    this.onResume = handler;
  }

  /**
   * The subscriber is connected (classic), and (sharded) no connection was lost since the last
   * confirmed settle: a Cluster client stays 'ready' while single primaries are away.
   */
  isLive(): boolean {
    return !this.closed && this.sub.status === 'ready' && !this.interrupted;
  }

  /**
   * Resolves when Redis confirmed, or at once while the subscriber is reconnecting (the topic
   * is subscribed then). Rejects when Redis refuses or does not answer in time; the topic stays
   * wanted either way and is applied again after the next reconnect.
   */
  async add(topic: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    const channel = this.names.channel(topic);
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.stale.delete(topic);
    if (this.sub.status !== 'ready') {
      if (this.names.sharded) this.retry.add(topic);
      return;
    }
    try {
      await confirmed(this.names.sharded ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel), this.ms, 'subscribe');
    } catch (err) {
      if (this.names.sharded && this.topics.has(topic)) this.retry.add(topic);
      throw err;
    }
  }

  /** Delivery for `topic` stops at once; Redis is told now, or after the next reconnect. Never rejects. */
  async remove(topic: string): Promise<void> {
    if (!this.topics.delete(topic)) return;
    this.retry.delete(topic);
    if (this.sub.status !== 'ready') {
      this.stale.add(topic);
      return;
    }
    try {
      await confirmed(this.unsubscribe([topic]), this.ms, 'unsubscribe');
    } catch (err) {
      this.stale.add(topic);
      this.logger?.warn({ err, topic }, 'unsubscribe not confirmed; retried on reconnect');
    }
  }

  /** Stops delivery, unsubscribes every channel (best effort) and detaches; the client stays open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const [event, fn] of this.events) this.sub.off(event, fn);
    const topics = [...this.topics, ...this.stale];
    this.topics.clear();
    this.stale.clear();
    this.retry.clear();
    if (topics.length === 0 || this.sub.status !== 'ready') return;
    try {
      await confirmed(this.unsubscribe(topics), this.ms, 'unsubscribe');
    } catch (err) {
      this.logger?.warn({ err }, 'unsubscribe on close failed');
    }
  }

  /** One UNSUBSCRIBE for all (classic); one SUNSUBSCRIBE per topic (each its own slot). */
  private async unsubscribe(topics: string[]): Promise<void> {
    const channels = topics.map((t) => this.names.channel(t));
    if (!this.names.sharded) await this.sub.unsubscribe(...channels);
    else await Promise.all(channels.map((c) => this.sub.sunsubscribe(c)));
  }

  private readonly onRedisMessage = (channel: string, message: string): void => {
    const topic = this.names.topicOf(channel);
    if (topic !== undefined && this.topics.has(topic)) this.opts.onMessage(topic, message);
  };

  /**
   * Classic, after a (re)connect: subscribe everything wanted and drop what was left meanwhile.
   * ioredis emits 'ready' on the next tick, after its own autoResubscribe was sent, so these
   * commands go after it on the connection and have the last word.
   */
  private readonly onClassicReady = (): void => {
    if (this.closed || this.sub.status !== 'ready') return;
    const stale = [...this.stale].filter((t) => !this.topics.has(t)).map((t) => this.names.channel(t));
    const wanted = [...this.topics].map((t) => this.names.channel(t));
    this.stale.clear();
    if (stale.length > 0) this.sub.unsubscribe(...stale).catch((err) => this.logger?.warn({ err }, 'unsubscribe after reconnect failed'));
    if (wanted.length === 0) return this.classicResumed();
    this.sub.subscribe(...wanted)
      .then(() => this.classicResumed())
      .catch((err) => this.logger?.warn({ err }, 'resubscribe after reconnect failed'));
  };

  /** Live delivery is back: only after the first 'ready' was there anything to miss. */
  private classicResumed(): void {
    if (this.everReady && !this.closed) this.onResume?.();
    this.everReady = true;
  }

  /** Sharded: a connection was lost; not live until a settle confirms everything again. */
  private readonly onShardLost = (): void => {
    this.interrupted = true;
    this.scheduleSettle();
  };

  private scheduleSettle(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onShardsReady();
    }, this.ms);
    this.timer.unref();
  }

  /** Sharded: ioredis re-subscribed its channels (or a retry is due); settle ours, one settle at a time. */
  private readonly onShardsReady = (): void => {
    if (this.closed) return;
    if (this.settling) {
      this.again = true;
      return;
    }
    this.settling = true;
    void this.settleLoop().finally(() => { this.settling = false; });
  };

  private async settleLoop(): Promise<void> {
    let ok = false;
    do {
      this.again = false;
      ok = await this.settle();
      if (ok && this.interrupted && !this.closed) {
        this.interrupted = false;
        this.onResume?.();
      }
    } while (this.again && !this.closed);
    if (!ok) this.scheduleSettle();
  }

  /**
   * True when the cluster answers, every stale topic is unsubscribed, and every wanted one is
   * subscribed: re-sent if ioredis may not have it, otherwise probed on its connection. The
   * probe's answer counts that connection's subscriptions: 0 means ioredis has not re-subscribed
   * there yet (ioredis sends a connection's channels in one go, so more than 0 means all).
   */
  private async settle(): Promise<boolean> {
    const stale = [...this.stale].filter((t) => !this.topics.has(t));
    const retry = new Set([...this.retry].filter((t) => this.topics.has(t)));
    this.stale.clear();
    this.retry.clear();
    const step = async (run: () => Promise<unknown>, onFail: () => void, ok: (r: unknown) => boolean = () => true) => {
      const done = await confirmed(run(), this.ms, 'resubscribe').then(ok, () => false);
      if (!done) onFail();
      return done;
    };
    // A probe that finds nothing on the topic's connection (or gets no answer) sends the topic
    // again at the next settle: ioredis re-subscribes a connection once, and when that went out
    // before the cluster could take it (a whole cluster restarting), nothing else would.
    const probe = (t: string) => step(() => this.sub.sunsubscribe(this.names.probe(t)), () => this.retry.add(t), (n) => typeof n === 'number' && n > 0);
    const done = await Promise.all([
      step(() => this.sub.ping(), () => {}),
      ...stale.map((t) => step(() => this.sub.sunsubscribe(this.names.channel(t)), () => this.stale.add(t))),
      ...[...retry].map((t) => step(() => this.sub.ssubscribe(this.names.channel(t)), () => this.retry.add(t))),
      ...[...this.topics].filter((t) => !retry.has(t)).map(probe),
    ]);
    const ok = done.every(Boolean);
    if (!ok) this.logger?.warn({ stale: this.stale.size, retry: this.retry.size }, 'sharded resubscribe not confirmed; retried');
    return ok;
  }
}
