/**
 * Reading an access token (a JWT) on the client, WITHOUT verifying it: only to know when it
 * expires, so a client stops retrying with a token the server is bound to refuse.
 */

/** The token's `exp` as a millisecond epoch; undefined when the token is not a readable JWT. */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const claims: unknown = JSON.parse(atob(base64));
    const exp = typeof claims === 'object' && claims !== null ? (claims as { exp?: unknown }).exp : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined; // not base64 or not JSON: unknown expiry, the server decides
  }
}

/** True when the token carries an `exp` at or before `now` (ms epoch). */
export function tokenExpired(token: string, now: number): boolean {
  const exp = tokenExpiry(token);
  return exp !== undefined && exp <= now;
}

/** Why the client asks for a token: the first connect, renewal before expiry, after a 4001 close, or a reconnect whose last attempt never got in. */
export type TokenReason = 'connect' | 'refresh' | 'expired' | 'retry';

export type GetToken = (ctx: { reason: TokenReason }) => Promise<string> | string;
