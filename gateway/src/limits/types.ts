/**
 * Rate limits every node shares (sign-in attempts): token buckets kept in Redis when the
 * cluster has one (redis.ts), in process otherwise (memory.ts). Each call is one atomic step; a bucket key carries
 * no user secret (names and addresses only) and expires once it would be full again.
 *
 * Contract: `take` takes a token and says whether there was one; `peek` says whether there is
 * one without taking it; `reset` forgets the bucket (it starts full again). When the store is
 * unreachable the Redis implementation lets the request through (returns true) and logs: a
 * sign-in stays possible during a Redis outage, limited by the in-process per-address bucket.
 */
export interface Rule { name: string; ratePerSec: number; burst: number }

export interface SharedLimits {
  take(rule: Rule, key: string): Promise<boolean>;
  peek(rule: Rule, key: string): Promise<boolean>;
  reset(rule: Rule, key: string): Promise<void>;
}
