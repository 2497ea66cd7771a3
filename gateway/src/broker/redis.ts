/**
 * The Broker on Redis pub/sub and Streams. Names, all under the key prefix P:
 *   channel  P action:<topic>         pub/sub of the topic
 *   stream   P history:<topic>        history topics: the kept messages (field p: payload)
 *   hash     P history-meta:<topic>   history topics: epoch, top, floor (lua/publish.lua)
 * A message on the channel is `<origin>\n<payload>`: `origin` is the publishing node's id for
 * plain publishes, so a receiver drops its own by comparing that prefix without parsing the
 * payload (node ids never contain '\n' or '*'); for history publishes it is
 * `*<offset> <prev> <epoch>`, written by lua/publish.lua in the same step as the append, and
 * every node relays it. The payload is passed through untouched.
 *
 * The caller owns both ioredis clients (this class never quits them) and must create them so:
 * - `publisher` with `enableOfflineQueue: false`. With the default offline queue, a publish
 *   made while Redis is down is queued and replayed on reconnect, before the subscriber has
 *   re-subscribed: it would be late, and lost anyway. Without the queue it rejects at once.
 *   `autoResendUnfulfilledCommands: false` is advisable too: a publish in flight when the
 *   connection drops would otherwise be re-sent after the reconnect (a possible duplicate);
 *   either way `publish` rejects once `publishTimeoutMs` has passed. It also runs the history
 *   scripts (publish-with-append and reads).
 * - `subscriber` dedicated to subscriptions (it enters subscriber mode). It may be shared
 *   with other components using other channels: only our channels are handled.
 *
 * Subscriptions survive reconnects: ioredis re-subscribes (`autoResubscribe`), and this class
 * also re-applies its own topic set on every 'ready', so topics added or removed while Redis
 * was away are settled too (SUBSCRIBE and UNSUBSCRIBE are idempotent in Redis).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { withDeadline } from '../deadline.js';
import type { Logger } from '../log.js';
import type { Broker, Delivery, HistoryPolicy, HistoryQuery, HistoryRead, StreamPosition } from './types.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const COMMON = lua('common');
const SCRIPTS = { brokerPublish: `${COMMON}\n${lua('publish')}`, brokerHistory: `${COMMON}\n${lua('history')}` };
type ScriptFn = (...args: string[]) => Promise<unknown>;
type StreamEntry = [id: string, fields: string[]];

export interface RedisBrokerOptions {
  publisher: Redis;
  subscriber: Redis;
  /** Key prefix shared by the cluster (REDIS_PREFIX). */
  prefix: string;
  /** This node's id; must not contain '\n' nor start with '*'. */
  nodeId: string;
  logger?: Logger;
  /** A publish or subscribe not confirmed within this time rejects (default 2000). */
  publishTimeoutMs?: number;
}

type Handler = (delivery: Delivery) => void;

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
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /** Topics this node wants: the source of truth, whatever Redis currently has. */
  private readonly topics = new Set<string>();
  /** Topics left while the subscriber was away: unsubscribed on the next 'ready'. */
  private readonly stale = new Set<string>();
  private handler: Handler | undefined;
  private onResume: (() => void) | undefined;
  private everReady = false;
  private closed = false;

  constructor(opts: RedisBrokerOptions) {
    if (opts.nodeId.length === 0 || opts.nodeId.includes('\n') || opts.nodeId.startsWith('*')) throw new Error('nodeId must be non-empty, without newlines, not starting with *');
    this.publisher = opts.publisher;
    this.subscriber = opts.subscriber;
    this.nodeId = opts.nodeId;
    this.logger = opts.logger;
    this.prefix = opts.prefix;
    this.channelPrefix = `${opts.prefix}action:`;
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in this.publisher)) this.publisher.defineCommand(name, { numberOfKeys: 2, lua: script });
    }
    this.timeoutMs = opts.publishTimeoutMs ?? 2000;
    this.subscriber.on('message', this.onRedisMessage);
    this.everReady = this.subscriber.status === 'ready';
    this.subscriber.on('ready', this.onSubscriberReady);
  }

  onResumed(handler: () => void): void {
    this.onResume = handler;
  }

  /**
   * Rejects at once unless the publisher is connected, and after `publishTimeoutMs` without a
   * reply; every rejection is an Error whose message starts with 'broker unavailable'
   * (or 'broker closed' after close()).
   */
  async publish(topic: string, payload: string, opts: { history?: HistoryPolicy } = {}): Promise<Partial<StreamPosition>> {
    this.ensureReady();
    if (!opts.history) {
      await this.call('publish', () => this.publisher.publish(this.channelPrefix + topic, `${this.nodeId}\n${payload}`));
      return {};
    }
    const { count, ageMs } = opts.history;
    const [offset, epoch] = (await this.call('publish', () => this.script('brokerPublish')(
      ...this.streamKeys(topic), this.channelPrefix + topic, payload, String(count), String(ageMs),
    ))) as [string, string];
    return { offset, epoch };
  }

  async history(topic: string, q: HistoryQuery): Promise<HistoryRead> {
    this.ensureReady();
    const args = q.since
      ? ['since', q.since.offset, q.since.epoch ?? '', String(q.limit)]
      : ['last', String(Math.max(0, q.last ?? 0)), '', '0'];
    const [epoch, top, recovered, entries] = (await this.call('history read', () => this.script('brokerHistory')(
      ...this.streamKeys(topic), ...args, String(q.policy.ageMs),
    ))) as [string, string, number, StreamEntry[]];
    const list = q.since ? entries : entries.reverse();
    const messages = list.map(([offset, fields]) => ({ offset, payload: fields[fields.indexOf('p') + 1] }));
    return { ...(q.since ? { recovered: recovered === 1 } : {}), messages, top: { offset: top, epoch } };
  }

  private streamKeys(topic: string): [string, string] {
    return [`${this.prefix}history:${topic}`, `${this.prefix}history-meta:${topic}`];
  }

  private script(name: keyof typeof SCRIPTS): ScriptFn {
    const fn = (this.publisher as unknown as Record<string, ScriptFn>)[name];
    return (...args) => fn.call(this.publisher, ...args);
  }

  private ensureReady(): void {
    if (this.closed) throw new Error('broker closed');
    if (this.publisher.status !== 'ready') throw new Error(`broker unavailable: redis publisher ${this.publisher.status}`);
  }

  /** `run()` confirmed within the deadline; every failure becomes a 'broker unavailable' Error. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await confirmed(run(), this.timeoutMs, what);
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
    const delivery = this.decode(topic, message);
    if (!delivery) return;
    try {
      this.handler(delivery);
    } catch (err) {
      this.logger?.error({ err, topic }, 'broker message handler threw');
    }
  };

  /** The wire message as a Delivery; undefined for our own plain publishes and for malformed ones (logged). */
  private decode(topic: string, message: string): Delivery | undefined {
    const nl = message.indexOf('\n');
    if (nl < 1) {
      this.logger?.warn({ topic }, 'dropped broker message without origin');
      return undefined;
    }
    const payload = message.slice(nl + 1);
    if (message.charCodeAt(0) !== 42 /* '*' */) {
      if (nl === this.nodeId.length && message.startsWith(this.nodeId)) return undefined;
      return { topic, payload };
    }
    const [offset, prev, epoch] = message.slice(1, nl).split(' ');
    if (!epoch) {
      this.logger?.warn({ topic }, 'dropped history message without a position');
      return undefined;
    }
    return { topic, payload, position: { offset, prev, epoch } };
  }

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
    if (wanted.length === 0) return this.resumed();
    this.subscriber.subscribe(...wanted)
      .then(() => this.resumed())
      .catch((err) => this.logger?.warn({ err }, 'resubscribe after reconnect failed'));
  };

  /** Live delivery is back: only after the first 'ready' was there anything to miss. */
  private resumed(): void {
    if (this.everReady && !this.closed) this.onResume?.();
    this.everReady = true;
  }
}
