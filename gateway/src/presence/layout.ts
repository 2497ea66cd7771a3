/**
 * One presence layout per cluster. Nodes with different PRESENCE_PARTITIONS would keep their
 * users in different keys and never see each other's presence, so a node records its
 * partition count in `P presence:layout` at start and refuses to start (ConfigError, nothing
 * written) while live nodes use another count. A changed count takes effect once every node
 * of the old layout has stopped (their leases expired): the first node of the new layout then
 * takes over the key. A missing key counts as one partition: versions before partitioning kept
 * all presence under the prefix. Two nodes starting at the same moment with different counts
 * are not caught (each reads before the other writes).
 */
import type { Redis } from 'ioredis';
import { ConfigError } from '../errors.js';
import { partitionPrefixes } from './partitions.js';

/** `prefix` is REDIS_PREFIX (the base the partition tags derive from); `partitions` this node's count. */
export async function claimLayout(redis: Redis, prefix: string, partitions: number): Promise<void> {
  const key = `${prefix}presence:layout`;
  const stored = await redis.get(key);
  // No key: nodes of an earlier version, which kept all presence under the prefix (one partition).
  const old = stored === null ? 1 : Number(stored);
  if (old !== partitions && Number.isInteger(old) && old >= 1) {
    const [sec, usec] = await redis.time();
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    const live = await Promise.all(partitionPrefixes(prefix, old).map((p) => redis.zcount(`${p}presence:nodes`, `(${now}`, '+inf')));
    const nodes = Math.max(...live);
    if (nodes > 0) {
      throw new ConfigError(
        `PRESENCE_PARTITIONS is ${partitions} here, but ${nodes} live node(s) use ${old} (${key}): nodes with different counts do not see each ` +
        `other's presence. Start this node with PRESENCE_PARTITIONS=${old}, or stop every node and start them all with the new count.`,
      );
    }
  }
  if (stored !== String(partitions)) await redis.set(key, String(partitions));
}
