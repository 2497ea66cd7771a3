/**
 * Errors that cross layers: thrown low (a store, a token check), caught high (admission, the
 * HTTP API, main). They live here, below every room that throws or catches them, so no lower
 * module imports a higher one to name an error. Codes sent to clients are the one table in
 * shared/protocol.ts (ErrorCodes, CloseCodes).
 */

/** A bad setting: the process stops before anything listens (exit 1), naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Why a token (access, refresh or subscription) was not accepted. */
export type AuthFailure = 'missing' | 'expired' | 'invalid' | 'revoked' | 'timeout' | 'unavailable';

export class AuthError extends Error {
  constructor(readonly reason: AuthFailure) {
    super(`token ${reason}`);
    this.name = 'AuthError';
  }
}
