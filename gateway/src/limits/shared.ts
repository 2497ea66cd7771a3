/**
 * Rate limits every node shares (sign-in attempts): token buckets kept in Redis when the
 * cluster has one, in process otherwise. Each call is one atomic step; a bucket key carries
 * no user secret (names and addresses only) and expires once it would be full again.
 *
 * Contract: `take` takes a token and says whether there was one; `peek` says whether there is
 * one without taking it; `reset` forgets the bucket (it starts full again). When the store is
 * unreachable the Redis implementation lets the request through (returns true) and logs: a
 * sign-in stays possible during a Redis outage, limited by the in-process per-address bucket.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { KeyedLimiter } from './buckets.js';

export interface Rule { name: string; ratePerSec: number; burst: number }

export interface SharedLimits {
  take(rule: Rule, key: string): Promise<boolean>;
  peek(rule: Rule, key: string): Promise<boolean>;
  reset(rule: Rule, key: string): Promise<void>;
}

export class MemorySharedLimits implements SharedLimits {
  private readonly buckets = new Map<string, KeyedLimiter>();

  private of(rule: Rule): KeyedLimiter {
    let b = this.buckets.get(rule.name);
    if (!b) this.buckets.set(rule.name, (b = new KeyedLimiter(rule.ratePerSec, rule.burst)));
    return b;
  }

  async take(rule: Rule, key: string): Promise<boolean> {
    return this.of(rule).take(key);
  }

  async peek(rule: Rule, key: string): Promise<boolean> {
    return this.of(rule).available(key);
  }

  async reset(rule: Rule, key: string): Promise<void> {
    this.of(rule).forget(key);
  }
}

const BUCKET_LUA = readFileSync(new URL('./lua/bucket.lua', import.meta.url), 'utf8');
type BucketFn = (key: string, rate: string, burst: string, op: string) => Promise<number>;

export class RedisSharedLimits implements SharedLimits {
  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly log: Logger) {
    if (!('limitBucket' in redis)) redis.defineCommand('limitBucket', { numberOfKeys: 1, lua: BUCKET_LUA });
  }

  private async run(rule: Rule, key: string, op: 'take' | 'peek' | 'reset'): Promise<boolean> {
    const fn = (this.redis as unknown as Record<string, BucketFn>).limitBucket;
    try {
      return (await fn.call(this.redis, `${this.prefix}limit:${rule.name}:${key}`, String(rule.ratePerSec), String(rule.burst), op)) === 1;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, rule: rule.name }, 'shared rate limit unreachable; letting the request through');
      return true;
    }
  }

  take(rule: Rule, key: string): Promise<boolean> {
    return this.run(rule, key, 'take');
  }

  peek(rule: Rule, key: string): Promise<boolean> {
    return this.run(rule, key, 'peek');
  }

  async reset(rule: Rule, key: string): Promise<void> {
    await this.run(rule, key, 'reset');
  }
}
