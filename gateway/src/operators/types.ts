/**
 * Operator sessions (the /admin page), shared by the cluster so that a cookie set by one node
 * works on every node behind the load balancer: kept in Redis when the cluster has one
 * (redis.ts), in process otherwise (memory.ts).
 *
 * Contract:
 * - A session is stored under a key the caller derives from the cookie (a hash of it: the store
 *   never holds what the browser presents, so reading the store does not open a session).
 * - `get` returns the session until its `expiresAt` and never after (the store expires it by
 *   itself; no caller has to clean up), or undefined for an unknown, deleted or unreadable key.
 * - `delete` is idempotent. Nothing here is ever extended: a session's lifetime is fixed at
 *   sign-in (ADMIN_SESSION_TTL_S).
 * - Unreachable store: `put` and `get` reject (the caller answers 503; nobody is let in).
 */
export interface OperatorSession {
  userId: string;
  username: string;
  /** The token every state-changing request must repeat in `X-CSRF-Token`. */
  csrf: string;
  /** The user's token version at sign-in: a password change or `users revoke` ends the session. */
  tokenVersion: number;
  createdAt: number;
  expiresAt: number;
}

export interface OperatorSessionStore {
  put(key: string, session: OperatorSession): Promise<void>;
  get(key: string): Promise<OperatorSession | undefined>;
  delete(key: string): Promise<void>;
}

/** The session in `text` (JSON) when it has every field with the right type; undefined otherwise. */
export function parseSession(text: string | null | undefined): OperatorSession | undefined {
  if (!text) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const s = raw as Record<string, unknown>;
  const strings = ['userId', 'username', 'csrf'].every((k) => typeof s?.[k] === 'string');
  const numbers = ['tokenVersion', 'createdAt', 'expiresAt'].every((k) => typeof s?.[k] === 'number');
  return strings && numbers ? (s as unknown as OperatorSession) : undefined;
}
