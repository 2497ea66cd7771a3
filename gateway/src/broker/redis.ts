/**
 * The Broker on Redis pub/sub and Streams. A topic's names (channel, history stream and meta
 * hash) come from ./names.ts, in one of two layouts: classic (PUBLISH / SUBSCRIBE, one Redis
 * or Sentinel; `P action:<topic>`) or sharded (SPUBLISH / SSUBSCRIBE on a Redis Cluster; the
 * topic is the names' hash tag, `P action:{<topic>}`, so each topic lives on one shard and
 * the topics spread over all of them).
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
 *   with other components using other channels: only our channels are handled. Sharded: an
 *   ioredis Cluster created with `shardedSubscribers: true`.
 *
 * Subscriptions survive reconnects (and, sharded, a primary's restart): ./redis-subscriptions.ts.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { classicNames, shardedNames, type TopicNames } from './names.js';
import { confirmed, RedisSubscriptions } from './redis-subscriptions.js';
import type { Broker, Delivery, HistoryPolicy, HistoryQuery, HistoryRead, StreamPosition } from './types.js';

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const COMMON = lua('common');
const SCRIPTS = { brokerPublish: `${COMMON}\n${lua('publish')}`, brokerHistory: `${COMMON}\n${lua('history')}` };
type ScriptFn = (...args: string[]) => Promise<unknown>;
type StreamEntry = [id: string, fields: string[]];

export interface RedisBrokerOptions {
  publisher: Redis;
  subscriber: Redis;
  /** Prefix of the broker's names: REDIS_PREFIX, or its brace-less form when sharded. */
  prefix: string;
  /** Redis Cluster: sharded pub/sub and per-topic hash tags (./names.ts). Default false. */
  sharded?: boolean;
  /** This node's id; must not contain '\n' nor start with '*'. */
  nodeId: string;
  logger?: Logger;
  /** A publish or subscribe not confirmed within this time rejects (default 2000). */
  publishTimeoutMs?: number;
}

type Handler = (delivery: Delivery) => void;

export class RedisBroker implements Broker {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly nodeId: string;
  private readonly logger?: Logger;
  private readonly names: TopicNames;
  private readonly subscriptions: RedisSubscriptions;
  private readonly timeoutMs: number;
  private handler: Handler | undefined;
  private closed = false;

  constructor(opts: RedisBrokerOptions) {
    if (opts.nodeId.length === 0 || opts.nodeId.includes('\n') || opts.nodeId.startsWith('*')) throw new Error('nodeId must be non-empty, without newlines, not starting with *');
    this.publisher = opts.publisher;
    this.subscriber = opts.subscriber;
    this.nodeId = opts.nodeId;
    this.logger = opts.logger;
    this.names = opts.sharded ? shardedNames(opts.prefix) : classicNames(opts.prefix);
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in this.publisher)) this.publisher.defineCommand(name, { numberOfKeys: 2, lua: script });
    }
    this.timeoutMs = opts.publishTimeoutMs ?? 2000;
    this.subscriptions = new RedisSubscriptions({
      subscriber: this.subscriber, names: this.names, timeoutMs: this.timeoutMs, logger: this.logger, onMessage: this.onRedisMessage,
    });
  }

  onResumed(handler: () => void): void {
    this.subscriptions.onResumed(handler);
  }

  /**
   * Rejects at once unless the publisher is connected, and after `publishTimeoutMs` without a
   * reply; every rejection is an Error whose message starts with 'broker unavailable'
   * (or 'broker closed' after close()).
   */
  async publish(topic: string, payload: string, opts: { history?: HistoryPolicy } = {}): Promise<Partial<StreamPosition>> {
    this.ensureReady();
    const channel = this.names.channel(topic);
    if (!opts.history) {
      const message = `${this.nodeId}\n${payload}`;
      await this.call('publish', () => (this.names.sharded ? this.publisher.spublish(channel, message) : this.publisher.publish(channel, message)));
      return {};
    }
    const { count, ageMs } = opts.history;
    const [offset, epoch] = (await this.call('publish', () => this.script('brokerPublish')(
      ...this.names.history(topic), channel, payload, String(count), String(ageMs), this.names.sharded ? 'SPUBLISH' : 'PUBLISH',
    ))) as [string, string];
    return { offset, epoch };
  }

  async history(topic: string, q: HistoryQuery): Promise<HistoryRead> {
    this.ensureReady();
    const args = q.since
      ? ['since', q.since.offset, q.since.epoch ?? '', String(q.limit)]
      : ['last', String(Math.max(0, q.last ?? 0)), '', '0'];
    const [epoch, top, recovered, entries] = (await this.call('history read', () => this.script('brokerHistory')(
      ...this.names.history(topic), ...args, String(q.policy.ageMs),
    ))) as [string, string, number, StreamEntry[]];
    const list = q.since ? entries : entries.reverse();
    const messages = list.map(([offset, fields]) => ({ offset, payload: fields[fields.indexOf('p') + 1] }));
    return { ...(q.since ? { recovered: recovered === 1 } : {}), messages, top: { offset: top, epoch } };
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

  /** See RedisSubscriptions.add: resolves once confirmed (or at once while reconnecting). */
  async subscribe(topic: string): Promise<void> {
    await this.subscriptions.add(topic);
  }

  /** Delivery for `topic` stops at once; Redis is told now, or after the next reconnect. Never rejects. */
  async unsubscribe(topic: string): Promise<void> {
    await this.subscriptions.remove(topic);
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  isReady(): boolean {
    return !this.closed && this.publisher.status === 'ready' && this.subscriptions.isLive();
  }

  /** Stops delivery, unsubscribes our channels (best effort) and detaches; the clients stay open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.close();
  }

  /** Never throws: a bad message or a throwing handler is logged and dropped. */
  private readonly onRedisMessage = (topic: string, message: string): void => {
    if (!this.handler || this.closed) return;
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
}
