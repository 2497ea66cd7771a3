/**
 * Presence store contract (presence-suite.ts) on the memory twin and on one real redis-server
 * (a unique key prefix per test), and the Redis store's handling of malformed events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { drain, record } from './presence-helpers.js';
import { memoryCluster, redisCluster, serverBackend } from './presence-stores.js';
import { presenceContract } from './presence-suite.js';

presenceContract('memory', memoryCluster);

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => server?.stop());
presenceContract('redis', redisCluster(serverBackend(() => server)));

describe('RedisPresenceStore event channel', () => {
  it('drops malformed messages and keeps delivering well-formed ones', async () => {
    const cluster = await redisCluster(serverBackend(() => server))();
    try {
      const a = await cluster.node('a');
      const events = record(a);
      const raw = new Redis(server.url);
      const channel = `${cluster.prefix}presence`;
      for (const junk of ['not json', '{"seq":"1"}', '{"seq":1,"changes":[{"userId":1}]}', 'null']) await raw.publish(channel, junk);
      raw.disconnect();
      await drain(a, events);
      expect(events.every((e) => e.changes.every((c) => typeof c.userId === 'string'))).toBe(true);
      expect(events).toHaveLength(1);
    } finally {
      await cluster.dispose();
    }
  });
});
