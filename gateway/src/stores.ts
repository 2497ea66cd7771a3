/**
 * Builds the node's storage: the broker (pub/sub and history) and the presence store, on
 * Redis when one is configured, otherwise the in-process memory twins (one node, nothing to
 * install).
 *
 * Redis connections and why each has its own settings:
 * - `commands` (presence scripts) and `publisher` (broker: publishes, history scripts and
 *   reads) run with no offline queue: while Redis is
 *   down a write fails at once instead of being queued and replayed later, possibly after
 *   the node re-synced its share or before subscribers re-subscribed (a known ioredis trap).
 *   A failed presence write marks the node dirty and the upkeep re-syncs it from live sockets.
 * - the two subscriber connections keep the offline queue: a SUBSCRIBE replayed on
 *   reconnect is harmless, and ioredis re-subscribes their channels by itself.
 * `onReconnect` callbacks run after a reconnect, and on a Cluster also after a node was lost
 * (a failover: see onNodeLost), when the client itself stays 'ready'.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Broker } from './broker/types.js';
import { createMemoryBus, MemoryBroker } from './broker/memory.js';
import { RedisBroker } from './broker/redis.js';
import type { PresenceStore } from './presence/types.js';
import { MemorySharedLimits } from './limits/memory.js';
import { RedisSharedLimits } from './limits/redis.js';
import type { SharedLimits } from './limits/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from './presence/memory.js';
import { RedisPresenceStore } from './presence/redis.js';
import { PartitionedPresenceStore } from './presence/partitioned.js';
import { claimLayout } from './presence/layout.js';
import type { EventLog } from './events/types.js';
import { MemoryEventLog } from './events/memory.js';
import { RedisEventLog } from './events/redis.js';
import { MemoryRevocationStore } from './revocations/memory.js';
import { RedisRevocationStore } from './revocations/redis.js';
import type { RevocationStore } from './revocations/types.js';
import { RedisInbox } from './inbox/redis.js';
import { MemoryOperatorSessions } from './operators/memory.js';
import { RedisOperatorSessions } from './operators/redis.js';
import type { OperatorSessionStore } from './operators/types.js';
import type { PublishInbox } from './inbox/types.js';

export interface Stores {
  broker: Broker;
  presence: PresenceStore;
  limits: SharedLimits;
  /** The event stream's reader (webhooks, replay). */
  events: EventLog;
  /** Token revocations made by the server API. */
  revocations: RevocationStore;
  /** Sessions of operators signed in at /admin, shared so that any node honours a cookie. */
  operators: OperatorSessionStore;
  /** The publish inbox stream, on a dedicated connection (Redis, with INBOX_STREAM=on). */
  inbox?: PublishInbox;
  /** Register a callback for "the store came back after a disconnect". */
  onReconnect(cb: () => void): void;
  close(): Promise<void>;
}

/** Options of one connection: `writes` ones fail at once while Redis is away (see above). */
export function redisOptions(role: string, writes: boolean): RedisOptions {
  return {
    lazyConnect: true,
    connectionName: role,
    enableOfflineQueue: !writes,
    maxRetriesPerRequest: writes ? 0 : null,
    // A write in flight when the connection drops must fail, not be re-sent after reconnect.
    autoResendUnfulfilledCommands: !writes,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(100 * times, 1000),
    reconnectOnError: () => false,
  };
}

/**
 * One connection with `options`: to a URL, through Sentinels (ioredis asks them for the
 * current primary and follows a failover), or to a Redis Cluster. A Cluster client offers the
 * commands, scripts and pub/sub the stores use, so it is handed to them as a Redis.
 * `shardedSubscribers` (Cluster only; the broker's subscriber): SSUBSCRIBE goes to one
 * subscriber connection per primary, which ioredis re-creates and re-subscribes after a
 * primary's connection was lost or the slot map changed (broker/redis-subscriptions.ts).
 */
export function connect(redis: Pick<NonNullable<Config['redis']>, 'url' | 'sentinels' | 'sentinelName' | 'clusterNodes'>, options: RedisOptions, shardedSubscribers = false): Redis {
  if (redis.clusterNodes) {
    const { enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
    const cluster = new Cluster(redis.clusterNodes, {
      redisOptions: nodeOptions, enableOfflineQueue, lazyConnect, scaleReads: 'master',
      clusterRetryStrategy: options.retryStrategy, shardedSubscribers,
    });
    return cluster as unknown as Redis;
  }
  if (redis.sentinels) return new Redis({ ...options, sentinels: redis.sentinels, name: redis.sentinelName });
  return new Redis(redis.url!, options);
}

/**
 * Connects `c`; on a Cluster also every node connection, now and whenever one is created.
 * ioredis opens a Cluster's node connections lazily, and while a fresh one still handshakes it
 * writes PUBLISH/SPUBLISH (flagged 'loading') at once but queues what was sent before: the first
 * burst to a node would go out of order, breaking the broker's per-publisher order.
 */
export async function open(c: Redis): Promise<void> {
  if (!((c as unknown) instanceof Cluster)) return c.connect();
  const cluster = c as unknown as Cluster;
  const connectNode = (node: Redis) => (node.status === 'wait' ? node.connect().catch(() => {}) : undefined);
  await cluster.connect();
  // Only once connected: connecting nodes while ioredis itself connects the cluster sometimes
  // left cluster.connect() hanging (seen about once in 20 connects in the contract suite).
  cluster.on('+node', connectNode);
  await Promise.all(cluster.nodes('all').map(connectNode));
}

/**
 * Cluster only: `cb` once per burst of lost node connections of `clients` (a primary or replica
 * died, failed over, or left the slot map). A Cluster client stays 'ready' through that, yet
 * presence needs the same repair as after a reconnect: its subscriber sat on one node and
 * missed the events published until ioredis moved it to another, writes may have failed, and
 * a promoted replica may lack the primary's last acknowledged writes (replication is async).
 * The callback's re-sync is retried by the upkeep until the slot has a primary again.
 */
function onNodeLost(clients: Redis[], cb: () => void): void {
  let timer: NodeJS.Timeout | undefined;
  const lost = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      cb();
    }, 50);
    timer.unref();
  };
  for (const c of clients) c.on('-node', lost);
}

export async function createRedisStores(config: Readonly<Config>, log: Logger): Promise<Stores> {
  const { prefix, actionPrefix, clusterNodes } = config.redis!;
  const make = (role: string, writes: boolean, sharded = false) => {
    const c = connect(config.redis!, redisOptions(`${config.nodeId}:${role}`, writes), sharded);
    let lastError = '';
    c.on('error', (err) => {
      if (err.message !== lastError) log.warn({ role, err: err.message }, 'redis connection error');
      lastError = err.message;
    });
    c.on('ready', () => { lastError = ''; });
    return c;
  };
  const commands = make('commands', true);
  // Partitioned presence (a cluster) hears its events over sharded pub/sub (presence/redis-channels.ts).
  const partitioned = config.redis!.presencePrefixes.length > 1;
  const presenceSub = make('presence-sub', false, partitioned);
  const publisher = make('publisher', true);
  const subscriber = make('subscriber', false, Boolean(clusterNodes));
  const inbox = make('inbox', true);
  const clients = [commands, presenceSub, publisher, subscriber, inbox];
  await Promise.all(clients.map(open));
  // On a cluster every node must use the same partition count (presence/layout.ts): refuse before writing anything else.
  if (clusterNodes) {
    await claimLayout(commands, prefix, config.redis!.presencePrefixes.length).catch((err) => {
      for (const c of clients) c.disconnect();
      throw err;
    });
  }

  const presenceLog = log.child({ component: 'presence-store' });
  const parts = config.redis!.presencePrefixes.map((partPrefix) => new RedisPresenceStore({
    redis: commands, subscriber: presenceSub, prefix: partPrefix, sharded: partitioned, nodeId: config.nodeId, leaseMs: config.presence.leaseMs,
    eventsMaxLen: config.events.maxLen, logger: presenceLog,
  }));
  // Each partition listens on the shared presence subscriber (one listener per event each).
  presenceSub.setMaxListeners(Math.max(presenceSub.getMaxListeners(), parts.length + 10));
  // On a cluster, presence is spread over partitions (presence/partitioned.ts); otherwise one store.
  const presence = partitioned ? new PartitionedPresenceStore(parts, presenceLog) : parts[0];
  // On a cluster the broker's names spread over the shards (sharded pub/sub, config.ts clusterPrefixes).
  const broker = new RedisBroker({
    publisher, subscriber, prefix: actionPrefix ?? prefix, sharded: Boolean(clusterNodes), nodeId: config.nodeId, logger: log.child({ component: 'broker' }),
  });
  const reconnectCbs: Array<() => void> = [];
  let closing = false;
  const reconnected = () => {
    if (!closing) for (const cb of reconnectCbs) cb();
  };
  // Callbacks are registered after the first connect, so every 'ready' they see is a reconnect.
  commands.on('ready', reconnected);
  if (clusterNodes) onNodeLost([commands, presenceSub], reconnected);
  return {
    broker,
    presence,
    limits: new RedisSharedLimits(commands, prefix, log.child({ component: 'limits' })),
    events: new RedisEventLog({ redis: commands, prefix, nodeId: config.nodeId }),
    revocations: new RedisRevocationStore(commands, prefix),
    operators: new RedisOperatorSessions(commands, prefix),
    inbox: config.inbox ? new RedisInbox(inbox, prefix, config.nodeId) : undefined,
    onReconnect: (cb) => reconnectCbs.push(cb),
    async close() {
      closing = true; // quitting drops node connections: no reconnect repair for those
      await Promise.allSettled([presence.close(), broker.close()]);
      await Promise.allSettled(clients.map((c) => c.quit()));
      for (const c of clients) c.disconnect();
    },
  };
}

export function createMemoryStores(config: Readonly<Config>): Stores {
  const broker = new MemoryBroker(createMemoryBus(), config.nodeId);
  const backend = createMemoryPresenceBackend({ eventsMaxLen: config.events.maxLen });
  const presence = new MemoryPresenceStore(backend, config.nodeId, { leaseMs: config.presence.leaseMs });
  return {
    broker,
    presence,
    limits: new MemorySharedLimits(),
    events: new MemoryEventLog(backend),
    revocations: new MemoryRevocationStore(),
    operators: new MemoryOperatorSessions(),
    onReconnect: () => {},
    async close() {
      await Promise.allSettled([presence.close(), broker.close()]);
    },
  };
}
