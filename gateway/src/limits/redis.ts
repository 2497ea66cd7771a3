/**
 * The shared limits on Redis: one bucket per rule and key (`P limit:<rule>:<key>`), taken in one
 * script call (lua/bucket.lua). An unreachable Redis lets the request through and logs.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { Rule, SharedLimits } from './types.js';

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
