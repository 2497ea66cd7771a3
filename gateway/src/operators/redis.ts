/**
 * Operator sessions on Redis: one string key per session, `P operator-session:<key>`, holding the
 * session as JSON, with a PX expiry at the session's `expiresAt` (Redis drops it by itself).
 */
import type { Redis } from 'ioredis';
import { parseSession, type OperatorSession, type OperatorSessionStore } from './types.js';

export class RedisOperatorSessions implements OperatorSessionStore {
  constructor(private readonly redis: Redis, private readonly prefix: string) {}

  private keyOf(key: string): string {
    return `${this.prefix}operator-session:${key}`;
  }

  async put(key: string, session: OperatorSession): Promise<void> {
    const ttlMs = Math.max(1, Math.round(session.expiresAt - Date.now()));
    await this.redis.set(this.keyOf(key), JSON.stringify(session), 'PX', ttlMs);
  }

  async get(key: string): Promise<OperatorSession | undefined> {
    const s = parseSession(await this.redis.get(this.keyOf(key)));
    // Redis expires keys within a millisecond or so; a session past its time is refused here too.
    return s && s.expiresAt > Date.now() ? s : undefined;
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(this.keyOf(key));
  }
}
