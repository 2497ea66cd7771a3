/**
 * One presence layout per cluster (src/presence/layout.ts), on a real redis-server: a node
 * whose partition count differs from live nodes' is refused with nothing written; once the old
 * layout's leases have expired, the new count takes over.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { claimLayout } from '../../src/presence/layout.js';
import { partitionPrefixes } from '../../src/presence/partitions.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});

it('refuses a different partition count while nodes of the stored one are alive, and follows it once they are gone', async () => {
  const redis = server.client();
  const prefix = `{${uniquePrefix('layout').replace(/[{}:]/g, '')}}:`;
  await claimLayout(redis, prefix, 1);
  expect(await redis.get(`${prefix}presence:layout`)).toBe('1');
  await claimLayout(redis, prefix, 1); // the same count: fine, again and again

  const [sec] = await redis.time();
  await redis.zadd(`${prefix}presence:nodes`, Number(sec) * 1000 + 60_000, 'old-node');
  const refused = claimLayout(redis, prefix, 12);
  await expect(refused).rejects.toThrow(ConfigError);
  await expect(refused).rejects.toThrow(/PRESENCE_PARTITIONS is 12 here, but 1 live node\(s\) use 1/);
  expect(await redis.get(`${prefix}presence:layout`)).toBe('1');

  // The old node's lease ran out (it stopped): the new count takes over, and the old one is refused in turn.
  await redis.zadd(`${prefix}presence:nodes`, 1, 'old-node');
  await claimLayout(redis, prefix, 12);
  expect(await redis.get(`${prefix}presence:layout`)).toBe('12');
  const [now] = await redis.time();
  await redis.zadd(`${partitionPrefixes(prefix, 12)[7]}presence:nodes`, Number(now) * 1000 + 60_000, 'new-node');
  await expect(claimLayout(redis, prefix, 1)).rejects.toThrow(/use 12/);
});

it('counts a cluster without the key as one partition: nodes of an earlier version keep presence under the prefix', async () => {
  const redis = server.client();
  const prefix = `{${uniquePrefix('layout').replace(/[{}:]/g, '')}}:`;
  const [sec] = await redis.time();
  await redis.zadd(`${prefix}presence:nodes`, Number(sec) * 1000 + 60_000, 'earlier-version');
  await expect(claimLayout(redis, prefix, 12)).rejects.toThrow(/but 1 live node\(s\) use 1/);
  expect(await redis.exists(`${prefix}presence:layout`)).toBe(0);
  await claimLayout(redis, prefix, 1);
  expect(await redis.get(`${prefix}presence:layout`)).toBe('1');
});
