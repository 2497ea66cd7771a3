/**
 * History in Redis Streams: one stream per action (`<prefix>history:<action>`), trimmed by
 * count (MAXLEN) and age (MINID, and a TTL so idle streams vanish). Appending and publishing
 * are one Lua script, so history order and delivery order are the same on every node.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { frameOf, type HistoryPolicy, type HistoryStore, type StoredMessage } from './types.js';

const PUBLISH_LUA = readFileSync(new URL('./lua/publish.lua', import.meta.url), 'utf8');

type Entry = [id: string, fields: string[]];

function stored([id, fields]: Entry): StoredMessage {
  const field = (name: string) => fields[fields.indexOf(name) + 1];
  return { offset: id, frame: frameOf(field('h'), id, Number(field('t'))) };
}

export class RedisHistoryStore implements HistoryStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {
    if (!('historyPublish' in redis)) {
      redis.defineCommand('historyPublish', { numberOfKeys: 1, lua: PUBLISH_LUA });
    }
  }

  private key(action: string): string {
    return `${this.prefix}history:${action}`;
  }

  async publish(action: string, policy: HistoryPolicy, head: string, ts: number): Promise<StoredMessage> {
    const run = (this.redis as unknown as Record<string, (...a: unknown[]) => Promise<[string, string]>>).historyPublish;
    const [offset, frame] = await run.call(
      this.redis, this.key(action), `${this.prefix}action:${action}`, head, String(ts), String(policy.count), String(policy.ageMs),
    );
    return { offset, frame };
  }

  async since(action: string, offset: string, limit: number): Promise<{ recovered: boolean; messages: StoredMessage[] }> {
    // `offset` itself must still be there: otherwise something after it may have been trimmed too.
    const [anchor, after] = await Promise.all([
      this.redis.xrange(this.key(action), offset, offset) as Promise<Entry[]>,
      this.redis.xrange(this.key(action), `(${offset}`, '+', 'COUNT', limit) as Promise<Entry[]>,
    ]);
    if (anchor.length === 0) return { recovered: false, messages: [] };
    return { recovered: true, messages: after.map(stored) };
  }

  async last(action: string, n: number): Promise<StoredMessage[]> {
    const entries = (await this.redis.xrevrange(this.key(action), '+', '-', 'COUNT', n)) as Entry[];
    return entries.reverse().map(stored);
  }
}
