/**
 * The presence store contract (presence-suite.ts) on a real three-primary Redis Cluster: the
 * store with a hash-tagged prefix (`{…}:`, one partition: what PRESENCE_PARTITIONS=1 runs),
 * through ioredis Cluster clients. A script touching a key outside the tag's slot would fail
 * with CROSSSLOT; "the store came back empty" is every primary restarted without data.
 * Partitioned presence has its own check (presence.partitioned.test.ts).
 */
import { afterAll, beforeAll } from 'vitest';
import { Cluster, type Redis } from 'ioredis';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { redisCluster, type RedisBackend } from './presence-stores.js';
import { presenceContract } from './presence-suite.js';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(async () => cluster?.stop());

function clusterBackend(): RedisBackend {
  const seeds = () => cluster.ports.map((port) => ({ host: '127.0.0.1', port }));
  return {
    client() {
      const c = new Cluster(seeds(), { scaleReads: 'master' });
      c.on('error', () => {});
      return c as unknown as Redis;
    },
    async restartEmpty(clients) {
      await cluster.stopNode();
      await cluster.startNode();
      await waitFor('clients to reconnect', () => clients.every((c) => c.status === 'ready'), 15_000);
    },
    async numsub(channel) {
      return cluster.ports.reduce((n, port) => n + Number(cluster.cli(port, 'pubsub', 'numsub', channel).trim().split('\n')[1] ?? 0), 0);
    },
    prefix: () => `{${uniquePrefix('pc').replace(/[{}:]/g, '')}}:`,
  };
}

presenceContract('redis cluster', redisCluster(clusterBackend));
