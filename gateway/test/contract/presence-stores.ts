/**
 * The stores the presence contract runs on (presence-suite.ts): the memory twin, and Redis on
 * a backend (one redis-server, or a Redis Cluster with a hash-tagged prefix), each a fresh,
 * empty store shared by any number of nodes, with raw access for drift by hand.
 */
import { Redis } from 'ioredis';
import type { NodeAccount, PresenceStore } from '../../src/presence/types.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import type { RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';


export type Store = PresenceStore;

/** A fresh, empty presence store shared by any number of nodes. */
export interface Cluster {
  /** A started node, registered with an empty account (as a gateway does at start). */
  node(id: string, leaseMs?: number): Promise<Store>;
  /** Resolves once `nodeId`'s lease has run out by the store's clock. */
  untilExpired(nodeId: string): Promise<void>;
  /** The store loses everything (Redis restart) and clients are usable again. */
  wipe(): Promise<void>;
  /** Cluster-wide counters as stored. */
  counts(): Promise<Record<string, number>>;
  /** Drift by hand: write the stored counter (absent when undefined) or online_users membership alone. */
  setCount(userId: string, n: number | undefined): Promise<void>;
  setOnline(userId: string, online: boolean): Promise<void>;
  /** Drift by hand in a room: the user's stored count there (absent when undefined). */
  setRoom(action: string, userId: string, n: number | undefined): Promise<void>;
  dispose(): Promise<void>;
}

export const LONG_LEASE = 60_000;
export const SHORT_LEASE = 300;

export function memoryCluster(): Promise<Cluster> {
  let clock = 1_000_000;
  const backend = createMemoryPresenceBackend({ now: () => clock });
  const stores: Store[] = [];
  return Promise.resolve({
    async node(id, leaseMs = LONG_LEASE) {
      const store = new MemoryPresenceStore(backend, id, { leaseMs });
      stores.push(store);
      await store.start();
      await store.sync(emptyAccount());
      return store;
    },
    async untilExpired(nodeId) {
      clock = Math.max(clock, (backend.leases.get(nodeId) ?? clock) + 1);
    },
    async wipe() {
      backend.reset();
    },
    async counts() {
      return withoutBarriers(Object.fromEntries(backend.counts));
    },
    async setCount(userId, n) {
      if (n === undefined) backend.counts.delete(userId);
      else backend.counts.set(userId, n);
    },
    async setRoom(action, userId, n) {
      const room = backend.rooms.get(action) ?? new Map<string, number>();
      if (n === undefined) room.delete(userId);
      else room.set(userId, n);
      backend.rooms.set(action, room);
      backend.actions.set(action, room.size);
    },
    async setOnline(userId, online) {
      if (online) backend.online.add(userId);
      else backend.online.delete(userId);
    },
    async dispose() {
      await Promise.all(stores.map((s) => s.close()));
    },
  });
}

/** Where the Redis variant runs: one redis-server, or a Redis Cluster with a hash-tagged prefix. */
export interface RedisBackend {
  /** A new connection (commands or a subscriber). */
  client(): Redis;
  /** The store loses everything (a restart without persistence) and `clients` are ready again. */
  restartEmpty(clients: Redis[]): Promise<void>;
  /** Subscribers of a classic channel, over every server. */
  numsub(channel: string): Promise<number>;
  prefix(): string;
}

/** One redis-server: the store's own connections, restarted by stopping the server. */
export function serverBackend(server: () => RedisServer): () => RedisBackend {
  return () => {
    const probe = new Redis(server().url);
    probe.on('error', () => {});
    return {
      client() {
        const c = new Redis(server().url);
        c.on('error', () => {});
        return c;
      },
      async restartEmpty(clients) {
        await server().stop();
        await server().start();
        await waitFor('clients to reconnect', () => [...clients, probe].every((c) => c.status === 'ready'), 10_000);
      },
      async numsub(channel) {
        const [, n] = (await probe.pubsub('NUMSUB', channel)) as [string, number];
        return Number(n);
      },
      prefix: () => uniquePrefix('presence'),
    };
  };
}

export function redisCluster(backendOf: () => RedisBackend): () => Promise<Cluster & { prefix: string }> {
  return async () => {
    const backend = backendOf();
    const prefix = backend.prefix();
    const clients: Redis[] = [];
    const client = () => {
      const c = backend.client();
      clients.push(c);
      return c;
    };
    const stores: Store[] = [];
    const probe = client();
    return {
      prefix,
      async node(nodeId, leaseMs = LONG_LEASE) {
        const store = new RedisPresenceStore({ redis: client(), subscriber: client(), prefix, nodeId, leaseMs });
        stores.push(store);
        await store.start();
        await store.sync(emptyAccount());
        return store;
      },
      async untilExpired(nodeId) {
        await waitFor(`lease of ${nodeId} to expire`, async () => {
          const [score, [sec, usec]] = await Promise.all([probe.zscore(`${prefix}presence:nodes`, nodeId), probe.time()]);
          return score !== null && Number(score) < Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
        }, 5_000);
      },
      async wipe() {
        await backend.restartEmpty(clients);
        const subscribers = stores.length;
        await waitFor('subscribers to resubscribe', async () => (await backend.numsub(`${prefix}presence`)) === subscribers, 10_000);
      },
      async counts() {
        const raw = await probe.hgetall(`${prefix}presence:counts`);
        return withoutBarriers(Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)])));
      },
      async setCount(userId, n) {
        if (n === undefined) await probe.hdel(`${prefix}presence:counts`, userId);
        else await probe.hset(`${prefix}presence:counts`, userId, n);
      },
      async setOnline(userId, online) {
        if (online) await probe.sadd(`${prefix}online_users`, userId);
        else await probe.srem(`${prefix}online_users`, userId);
      },
      async setRoom(action, userId, n) {
        if (n === undefined) await probe.hdel(`${prefix}members:${action}`, userId);
        else await probe.hset(`${prefix}members:${action}`, userId, n);
        await probe.zadd(`${prefix}actions`, 1, action);
      },
      async dispose() {
        await Promise.all(stores.map((s) => s.close()));
        for (const c of clients) c.disconnect();
      },
    };
  };
}

export function emptyAccount(): NodeAccount {
  return { users: new Map(), memberships: new Map() };
}

/** Counters without the barrier users that `drain` (presence-helpers.ts) brings online. */
function withoutBarriers(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([id]) => !id.startsWith('barrier-')));
}
