/**
 * The Broker on Redis pub/sub. Topic `t` is the channel `${prefix}action:${t}`; a message on
 * the wire is `${nodeId}\n${payload}`, so a receiver drops its own publishes by comparing the
 * origin prefix, without parsing the payload (node ids never contain '\n'). The payload is
 * passed through untouched.
 *
 * The caller owns both ioredis clients (this class never quits them) and must create them so:
 * - `publisher` with `enableOfflineQueue: false`. With the default offline queue, a publish
 *   made while Redis is down is queued and replayed on reconnect, before the subscriber has
 *   re-subscribed: it would be late, and lost anyway. Without the queue it rejects at once.
 *   `autoResendUnfulfilledCommands: false` is advisable too: a publish in flight when the
 *   connection drops would otherwise be re-sent after the reconnect (a possible duplicate);
 *   either way `publish` rejects once `publishTimeoutMs` has passed.
 * - `subscriber` dedicated to subscriptions (it enters subscriber mode). It may be shared
 *   with other components using other channels: only our channels are handled.
 *
 * Subscriptions survive reconnects: ioredis re-subscribes (`autoResubscribe`), and this class
 * also re-applies its own topic set on every 'ready', so topics added or removed while Redis
 * was away are settled too (SUBSCRIBE and UNSUBSCRIBE are idempotent in Redis).
 */
import type { Redis } from 'ioredis';
import { withDeadline } from '../deadline.js';
import type { Logger } from '../log.js';
import type { Broker } from './types.js';

export interface RedisBrokerOptions {
  publisher: Redis;
  subscriber: Redis;
  /** Key prefix shared by the cluster (REDIS_PREFIX). */
  prefix: string;
  /** This node's id; must not contain '\n'. */
  nodeId: string;
  logger?: Logger;
  /** A publish or subscribe not confirmed within this time rejects (default 2000). */
  publishTimeoutMs?: number;
}

type Handler = (topic: string, payload: string) => void;

/** Rejects with a 'broker unavailable' error when Redis has not confirmed `what` within `ms`. */
function confirmed<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, ms, () => new Error(`broker unavailable: ${what} not confirmed within ${ms} ms`));
}

export class RedisBroker implements Broker {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly nodeId: string;
  private readonly logger?: Logger;
  private readonly channelPrefix: string;
  private readonly timeoutMs: number;
  /** Topics this node wants: the source of truth, whatever Redis currently has. */
  private readonly topics = new Set<string>();
  /** Topics left while the subscriber was away: unsubscribed on the next 'ready'. */
  private readonly stale = new Set<string>();
  private handler: Handler | undefined;
  private closed = false;

  constructor(opts: RedisBrokerOptions) {
    if (opts.nodeId.length === 0 || opts.nodeId.includes('\n')) throw new Error('nodeId must be non-empty without newlines');
    this.publisher = opts.publisher;
    this.subscriber = opts.subscriber;
    this.nodeId = opts.nodeId;
    this.logger = opts.logger;
    this.channelPrefix = `${opts.prefix}action:`;
    this.timeoutMs = opts.publishTimeoutMs ?? 2000;
    this.subscriber.on('message', this.onRedisMessage);
    this.subscriber.on('ready', this.onSubscriberReady);
  }

  /**
   * Rejects at once unless the publisher is connected, and after `publishTimeoutMs` without a
   * reply; every rejection is an Error whose message starts with 'broker unavailable'
   * (or 'broker closed' after close()).
   */
  async publish(topic: string, payload: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    if (this.publisher.status !== 'ready') throw new Error(`broker unavailable: redis publisher ${this.publisher.status}`);
    try {
      await confirmed(this.publisher.publish(this.channelPrefix + topic, `${this.nodeId}\n${payload}`), this.timeoutMs, 'publish');
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('broker unavailable')) throw err;
      throw new Error(`broker unavailable: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Resolves when Redis confirmed, or at once while the subscriber is reconnecting (the topic
   * is subscribed on 'ready'). Rejects when Redis refuses or does not answer in time; the topic
   * stays wanted either way and is re-applied on the next reconnect.
   */
  async subscribe(topic: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    if (this.topics.has(topic)) return;
    this.topics.add(topic);
    this.stale.delete(topic);
    if (this.subscriber.status !== 'ready') return;
    await confirmed(this.subscriber.subscribe(this.channelPrefix + topic), this.timeoutMs, 'subscribe');
  }

  /** Delivery for `topic` stops at once; Redis is told now, or on the next 'ready'. Never rejects. */
  async unsubscribe(topic: string): Promise<void> {
    if (!this.topics.delete(topic)) return;
    if (this.subscriber.status !== 'ready') {
      this.stale.add(topic);
      return;
    }
    try {
      await confirmed(this.subscriber.unsubscribe(this.channelPrefix + topic), this.timeoutMs, 'unsubscribe');
    } catch (err) {
      this.stale.add(topic);
      this.logger?.warn({ err, topic }, 'unsubscribe not confirmed; retried on reconnect');
    }
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  isReady(): boolean {
    return !this.closed && this.publisher.status === 'ready' && this.subscriber.status === 'ready';
  }

  /** Stops delivery, unsubscribes our channels (best effort) and detaches; the clients stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriber.off('message', this.onRedisMessage);
    this.subscriber.off('ready', this.onSubscriberReady);
    const channels = [...this.topics, ...this.stale].map((t) => this.channelPrefix + t);
    this.topics.clear();
    this.stale.clear();
    if (channels.length === 0 || this.subscriber.status !== 'ready') return;
    try {
      await confirmed(this.subscriber.unsubscribe(...channels), this.timeoutMs, 'unsubscribe');
    } catch (err) {
      this.logger?.warn({ err }, 'unsubscribe on close failed');
    }
  }

  /** Never throws: a bad message or a throwing handler is logged and dropped. */
  private readonly onRedisMessage = (channel: string, message: string): void => {
    if (!channel.startsWith(this.channelPrefix)) return;
    const topic = channel.slice(this.channelPrefix.length);
    if (!this.topics.has(topic) || !this.handler) return;
    const nl = message.indexOf('\n');
    if (nl < 1) {
      this.logger?.warn({ topic }, 'dropped broker message without origin');
      return;
    }
    if (nl === this.nodeId.length && message.startsWith(this.nodeId)) return;
    try {
      this.handler(topic, message.slice(nl + 1));
    } catch (err) {
      this.logger?.error({ err, topic }, 'broker message handler threw');
    }
  };

  /**
   * After a (re)connect: subscribe everything wanted and drop what was left meanwhile. ioredis
   * emits 'ready' on the next tick, after its own autoResubscribe was sent, so these commands
   * go after it on the connection and have the last word.
   */
  private readonly onSubscriberReady = (): void => {
    if (this.closed || this.subscriber.status !== 'ready') return;
    const stale = [...this.stale].filter((t) => !this.topics.has(t)).map((t) => this.channelPrefix + t);
    const wanted = [...this.topics].map((t) => this.channelPrefix + t);
    this.stale.clear();
    if (stale.length > 0) this.subscriber.unsubscribe(...stale).catch((err) => this.logger?.warn({ err }, 'unsubscribe after reconnect failed'));
    if (wanted.length > 0) this.subscriber.subscribe(...wanted).catch((err) => this.logger?.warn({ err }, 'resubscribe after reconnect failed'));
  };
}
