/**
 * The operator sessions' memory twin (one node). Bounded: at most `max` sessions; a put past it
 * first drops expired ones, then the oldest (sign-in is rate-limited, so only a flood of valid
 * operator sign-ins gets there, and it costs those operators their oldest sessions).
 */
import type { OperatorSession, OperatorSessionStore } from './types.js';

export class MemoryOperatorSessions implements OperatorSessionStore {
  private readonly sessions = new Map<string, OperatorSession>();

  constructor(private readonly now: () => number = Date.now, private readonly max = 10_000) {}

  async put(key: string, session: OperatorSession): Promise<void> {
    this.sessions.delete(key);
    if (this.sessions.size >= this.max) {
      for (const [k, s] of this.sessions) if (s.expiresAt <= this.now()) this.sessions.delete(k);
    }
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(key, { ...session });
  }

  async get(key: string): Promise<OperatorSession | undefined> {
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return { ...s };
  }

  async delete(key: string): Promise<void> {
    this.sessions.delete(key);
  }
}
