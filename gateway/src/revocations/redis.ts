import type { Redis } from 'ioredis';
import type { RevocationStore } from './types.js';

/** One sorted set `P revoked`: userId scored by the revocation second; expired records are pruned on write. */
export class RedisRevocationStore implements RevocationStore {
  private readonly key: string;

  constructor(private readonly redis: Redis, prefix: string) {
    this.key = `${prefix}revoked`;
  }

  async add(userId: string, atS: number, ttlS: number): Promise<void> {
    await this.redis.multi().zadd(this.key, 'GT', atS, userId).zremrangebyscore(this.key, '-inf', `(${atS - ttlS}`).exec();
  }

  async load(nowS: number, ttlS: number): Promise<Map<string, number>> {
    const flat = await this.redis.zrangebyscore(this.key, nowS - ttlS, '+inf', 'WITHSCORES');
    const out = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i], Number(flat[i + 1]));
    return out;
  }
}
