/**
 * Where a Redis presence store hears what its scripts publish: its presence channel
 * (`P presence`) and the room channels (`P room:<action>`) of the actions it watches. Every
 * message goes to `onMessage(topic, raw)`, the topic being `presence` or `room:<action>`.
 *
 * classic (one Redis, Sentinel, or a cluster with one presence tag): SUBSCRIBE on a connection
 * that may be shared; ioredis re-subscribes by itself after a reconnect, and a subscribe sent
 * while Redis is away waits in the offline queue.
 * sharded (partitioned presence on a Redis Cluster): the scripts SPUBLISH into their own
 * slot, so an event travels to the one primary that owns the partition instead of being
 * broadcast over the cluster bus to every node. Subscriptions go through the broker's
 * sharded subscription keeper (../broker/redis-subscriptions.ts), which follows failovers and
 * slot moves. Events published while a shard's subscriber was away are not replayed: the
 * node re-syncs presence and resets its watchers after a lost node (../stores.ts).
 */
import type { Redis } from 'ioredis';
import { RedisSubscriptions } from '../broker/redis-subscriptions.js';
import type { TopicNames } from '../broker/names.js';
import { withDeadline } from '../deadline.js';
import type { Logger } from '../log.js';

export interface PresenceChannels {
  /** Subscribe the presence channel; events published before it resolves are not delivered. */
  start(): Promise<void>;
  /**
   * Resolves once subscribed (within the timeout), or at once while Redis is away (applied when
   * it is back). Idempotent, as is `unwatch`; `onMessage` only ever gets watched topics.
   */
  watch(topic: string): Promise<void>;
  unwatch(topic: string): Promise<void>;
  close(): Promise<void>;
}

export interface PresenceChannelsOptions {
  subscriber: Redis;
  prefix: string;
  sharded: boolean;
  timeoutMs: number;
  logger?: Logger;
  onMessage(topic: string, raw: string): void;
}

export const PRESENCE_TOPIC = 'presence';

export function presenceChannels(opts: PresenceChannelsOptions): PresenceChannels {
  return opts.sharded ? shardedChannels(opts) : classicChannels(opts);
}

function classicChannels(opts: PresenceChannelsOptions): PresenceChannels {
  const { subscriber, prefix, timeoutMs, logger } = opts;
  const topics = new Set<string>();
  const onMessage = (channel: string, message: string) => {
    if (!channel.startsWith(prefix)) return;
    const topic = channel.slice(prefix.length);
    if (topics.has(topic)) opts.onMessage(topic, message);
  };
  /** Waits for a (un)subscribe while the subscriber is up; otherwise lets the offline queue apply it later. */
  const settle = async (p: Promise<unknown>, what: string) => {
    if (subscriber.status !== 'ready') {
      p.catch((err) => logger?.warn({ err }, `${what} failed`));
      return;
    }
    await withDeadline(p, timeoutMs, () => new Error(`${what} not confirmed within ${timeoutMs} ms`));
  };
  return {
    async start() {
      if (topics.has(PRESENCE_TOPIC)) return;
      topics.add(PRESENCE_TOPIC);
      subscriber.on('message', onMessage);
      await subscriber.subscribe(prefix + PRESENCE_TOPIC);
    },
    async watch(topic) {
      if (topics.has(topic)) return;
      topics.add(topic);
      await settle(subscriber.subscribe(prefix + topic), 'room watch');
    },
    async unwatch(topic) {
      if (!topics.delete(topic)) return;
      await settle(subscriber.unsubscribe(prefix + topic), 'room unwatch');
    },
    async close() {
      if (!topics.has(PRESENCE_TOPIC)) return;
      subscriber.off('message', onMessage);
      const channels = [...topics].map((t) => prefix + t);
      topics.clear();
      if (subscriber.status === 'ready') await subscriber.unsubscribe(...channels);
    },
  };
}

/** The partition's channels as topics: `P <topic>`, all in the slot of P's hash tag. */
function partitionNames(prefix: string): TopicNames {
  return {
    sharded: true,
    channel: (topic) => prefix + topic,
    topicOf: (channel) => (channel.startsWith(prefix) ? channel.slice(prefix.length) : undefined),
    history: () => {
      throw new Error('presence channels have no history');
    },
    probe: () => `${prefix}probe`,
  };
}

function shardedChannels(opts: PresenceChannelsOptions): PresenceChannels {
  let subs: RedisSubscriptions | undefined;
  return {
    async start() {
      subs ??= new RedisSubscriptions({
        subscriber: opts.subscriber, names: partitionNames(opts.prefix), timeoutMs: opts.timeoutMs, logger: opts.logger, onMessage: opts.onMessage,
      });
      await subs.add(PRESENCE_TOPIC);
    },
    async watch(topic) {
      await subs?.add(topic);
    },
    async unwatch(topic) {
      await subs?.remove(topic);
    },
    async close() {
      const s = subs;
      subs = undefined;
      await s?.close();
    },
  };
}
