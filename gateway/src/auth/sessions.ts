/**
 * From a token to a session: the one check every authenticated path uses (the upgrade, the
 * HTTP API, the `refresh` command). On top of the signature and claims (tokens.ts):
 * - revocation: a directory user's tokens carry the user's token version (`ver`); a password
 *   change or `users revoke` bumps it and every older token is refused ('revoked'). Only for
 *   tokens this gateway signs (JWT_SECRET): with JWKS_URL the identity provider owns sessions;
 * - server revocation: `POST /api/disconnect` refuses the user's tokens issued until then
 *   (revocations.ts), whoever signed them;
 * - absolute lifetime: a session ends SESSION_MAX_AGE_S after its sign-in (`auth_time`),
 *   however often it was refreshed;
 * - names: the username and display name come from the directory. A subject that is not in
 *   it is shown under its own id; its `name` claim can be a display name (when it is clean),
 *   never the username of anybody.
 */
import type { Config } from '../config.js';
import { cleanDisplayName, type User, type UserDirectory } from '../users/types.js';
import { AuthError } from '../errors.js';
import { type Identity, type Verifier } from './tokens.js';

export interface Session {
  userId: string;
  username: string;
  displayName: string;
  /** Token expiry and sign-in time, seconds since the epoch. */
  exp: number;
  authTime: number;
  /** The directory entry, when the subject is in the directory. */
  user?: User;
  /** The token's `channels` claim, when it has one. */
  channels?: string[];
}

export type Authenticate = (token: string) => Promise<Session>;

export interface SessionDeps {
  verify: Verifier;
  users: Pick<UserDirectory, 'byId'>;
  auth: Pick<Config['auth'], 'secret' | 'sessionMaxAgeS' | 'clockSkewS'>;
  /** Tokens revoked by the server API (revocations.ts): true refuses the token as 'revoked'. */
  revoked?: (userId: string, iatS: number) => boolean;
  now?: () => number;
}

export function createAuthenticate(d: SessionDeps): Authenticate {
  const now = d.now ?? (() => Math.floor(Date.now() / 1000));
  return async (token) => {
    const identity = await d.verify(token);
    const user = d.users.byId(identity.userId);
    if (d.auth.secret && user && (identity.version ?? 0) !== user.tokenVersion) throw new AuthError('revoked');
    if (d.revoked?.(identity.userId, identity.iat)) throw new AuthError('revoked');
    if (identity.authTime + d.auth.sessionMaxAgeS < now() - d.auth.clockSkewS) throw new AuthError('expired');
    return sessionOf(identity, user);
  };
}

function sessionOf(identity: Identity, user: User | undefined): Session {
  const { userId, exp, authTime, channels } = identity;
  if (user) return { userId, username: user.username, displayName: user.displayName, exp, authTime, user, channels };
  return { userId, username: userId, displayName: cleanDisplayName(identity.name) ?? userId, exp, authTime, channels };
}

/** Seconds a refreshed token may live: LOGIN_TOKEN_TTL_S, cut at the end of the session. */
export function refreshTtl(session: Pick<Session, 'authTime'>, ttlS: number, sessionMaxAgeS: number, nowS = Math.floor(Date.now() / 1000)): number {
  return Math.min(ttlS, session.authTime + sessionMaxAgeS - nowS);
}
