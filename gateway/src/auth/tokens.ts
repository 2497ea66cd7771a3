/**
 * Access tokens: verification for the gateway, signing for the dev CLI and /api/login.
 * Tokens signed with the shared secret (HS*) are verified synchronously by fast-jwt on
 * node:crypto: WebCrypto (jose) queues every HMAC as an async job, a quarter of the CPU of a
 * connection storm. Tokens of a JWKS issuer are verified by jose, which fetches and rotates
 * the keys. Both check the same claims: algorithm, signature, exp, iat not in the future,
 * maximum age, issuer and audience, with JWT_CLOCK_SKEW_S of tolerance.
 * A verified token yields an Identity; every failure is an AuthError with a reason that is
 * safe to log. Token text is never logged or put in an error message.
 */
import { AuthError } from '../errors.js';
import { createRemoteJWKSet, errors, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config.js';
import { withDeadline } from '../deadline.js';
import { createVerifier as createHmacVerifier, TokenError, type Algorithm } from 'fast-jwt';

export interface Identity {
  userId: string;
  /** The token's `name` claim, when present: a display hint, never an identity (see sessions.ts). */
  name?: string;
  /** Expiry and issue time, seconds since the epoch. */
  exp: number;
  iat: number;
  /** When the user signed in (OIDC `auth_time`); a refresh keeps it. `iat` when absent. */
  authTime: number;
  /** The directory's token version when signed (`ver`); absent in tokens of other issuers. */
  version?: number;
  /** The `channels` claim: action names or globs this user may join in `claim` namespaces. */
  channels?: string[];
}

/** Most entries of a `channels` claim, and the longest one (a token is at most 8 KiB anyway). */
const MAX_CLAIMED_CHANNELS = 2000;

function channelsClaim(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  if (value.length > MAX_CLAIMED_CHANNELS || !value.every((c) => typeof c === 'string' && c.length > 0 && c.length <= 256)) {
    throw new AuthError('invalid');
  }
  return value as string[];
}


export type Verifier = (token: string) => Promise<Identity>;

const MAX_TOKEN_CHARS = 8192;

/**
 * The JWKS key lookup, with key-server failures told apart from bad tokens: an unknown `kid`
 * or an unsupported algorithm is the token's fault (401); a fetch that failed (connection
 * refused, non-200, not JSON, not a key set, timeout) is the key server's (503, retry later).
 */
function remoteKeys(url: string, timeoutMs: number): JWTVerifyGetKey {
  const remote = createRemoteJWKSet(new URL(url), { timeoutDuration: timeoutMs, cooldownDuration: 30_000 });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      const tokensFault = err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported;
      throw tokensFault ? err : new AuthError('unavailable');
    }
  };
}

/** A whole number of seconds, or undefined. */
function seconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** The identity a verified payload carries; throws AuthError('invalid') for claims that break our limits. */
function identityOf(payload: JWTPayload, auth: Config['auth']): Identity {
  const { sub, exp, iat } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128) throw new AuthError('invalid');
  if (payload.channel !== undefined) throw new AuthError('invalid');
  // The checker refused an iat in the future or older than maxTtlS; a token may not claim a longer life either.
  if (exp! - iat! > auth.maxTtlS) throw new AuthError('invalid');
  const authTime = seconds(payload.auth_time) ?? iat!;
  if (authTime > iat! + auth.clockSkewS) throw new AuthError('invalid');
  const name = typeof payload.name === 'string' && payload.name.length <= 128 ? payload.name : undefined;
  return { userId: sub, name, exp: exp!, iat: iat!, authTime, version: seconds(payload.ver), channels: channelsClaim(payload.channels) };
}

/**
 * A synchronous HS* check of signature and standard claims; throws AuthError. fast-jwt checks
 * iat only for age (maxAge), so an iat in the future beyond the clock skew is refused here,
 * as jose's maxTokenAge check does for JWKS tokens.
 */
function hmacChecker(auth: Config['auth'], secret: Uint8Array, requiredClaims: string[]): (token: string) => JWTPayload {
  const verify = createHmacVerifier({
    key: Buffer.from(secret),
    algorithms: auth.algorithms as Algorithm[],
    allowedIss: auth.issuer,
    allowedAud: auth.audience,
    clockTolerance: auth.clockSkewS * 1000,
    maxAge: (auth.maxTtlS + auth.clockSkewS) * 1000,
    requiredClaims,
  });
  return (token) => {
    let payload: JWTPayload;
    try {
      payload = verify(token) as JWTPayload;
    } catch (err) {
      throw new AuthError(err instanceof TokenError && err.code === TokenError.codes.expired ? 'expired' : 'invalid');
    }
    if (payload.iat! > Date.now() / 1000 + auth.clockSkewS) throw new AuthError('invalid');
    return payload;
  };
}

/** The signature and registered claims of `token`, by the configured key; AuthError for every failure. */
function createChecker(auth: Config['auth'], requiredClaims: string[]): (token: string) => Promise<JWTPayload> {
  const hmac = auth.secret ? hmacChecker(auth, auth.secret, requiredClaims) : undefined;
  const remote: JWTVerifyGetKey | undefined = auth.secret ? undefined : remoteKeys(auth.jwksUrl!, auth.timeoutMs);
  const options = {
    algorithms: auth.algorithms,
    issuer: auth.issuer,
    audience: auth.audience,
    clockTolerance: auth.clockSkewS,
    maxTokenAge: auth.maxTtlS,
    requiredClaims,
  };
  return async (token) => {
    if (!token) throw new AuthError('missing');
    if (token.length > MAX_TOKEN_CHARS) throw new AuthError('invalid');
    if (hmac) return hmac(token);
    try {
      const { payload } = await withDeadline(jwtVerify(token, remote!, options), auth.timeoutMs, () => new AuthError('timeout'));
      return payload;
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof errors.JWTExpired) throw new AuthError('expired');
      if (err instanceof errors.JWKSTimeout) throw new AuthError('unavailable');
      throw new AuthError('invalid');
    }
  };
}

/**
 * Build the verifier once per process. Only configured algorithms pass; `exp`, `sub` and `iat`
 * are required; `iat` may not lie in the future beyond the clock skew, nor be older than
 * TOKEN_MAX_TTL_S, and `exp - iat` may not exceed it (a token "valid until 2999" is refused).
 * A subscription token (it has `channel`) is not an access token and is refused here.
 */
export function createVerifier(auth: Config['auth']): Verifier {
  const check = createChecker(auth, ['exp', 'sub', 'iat']);
  return async (token) => {
    const payload = await check(token);
    try {
      return identityOf(payload, auth);
    } catch (err) {
      throw err instanceof AuthError ? err : new AuthError('invalid');
    }
  };
}

/** A subscription token's grant: `sub` may join `channel` until `exp`. */
export interface Grant { userId: string; channel: string; exp: number }
export type GrantVerifier = (token: string) => Promise<Grant>;

/**
 * Subscription tokens (namespaces with subscribe "token"): short-lived JWTs the app backend
 * signs with the gateway's key (JWT_SECRET, or the identity provider's for JWKS_URL), with
 * `sub` (the user), `channel` (the exact action), `iat` and `exp`; the same algorithm, issuer,
 * audience, age and lifetime checks as access tokens.
 */
export function createGrantVerifier(auth: Config['auth']): GrantVerifier {
  const check = createChecker(auth, ['exp', 'sub', 'iat', 'channel']);
  return async (token) => {
    const { sub, channel, exp, iat } = await check(token);
    if (typeof sub !== 'string' || typeof channel !== 'string' || exp! - iat! > auth.maxTtlS) throw new AuthError('invalid');
    return { userId: sub, channel, exp: exp! };
  };
}

export interface SignOptions {
  userId: string;
  name?: string;
  ttlSeconds: number;
  /** When the user signed in (seconds); a refresh passes the session's, a sign-in none (now). */
  authTime?: number;
  /** The user's token version in the directory (`ver`), when the user is in it. */
  version?: number;
  /** Access tokens: the `channels` claim (names or globs for `claim` namespaces). */
  channels?: string[];
  /** A subscription token for this one action instead of an access token. */
  channel?: string;
}

/** The private claims of a token signed with `opts`. */
function claimsOf(opts: SignOptions, now: number): Record<string, unknown> {
  if (opts.channel !== undefined) return { channel: opts.channel };
  return {
    ...(opts.name ? { name: opts.name } : {}),
    auth_time: opts.authTime ?? now,
    ...(opts.version !== undefined ? { ver: opts.version } : {}),
    ...(opts.channels ? { channels: opts.channels } : {}),
  };
}

/** Sign an HS256 access (or subscription) token with the configured secret (CLI and /api/login). */
export async function signToken(auth: Config['auth'], opts: SignOptions): Promise<{ token: string; expiresAt: number }> {
  if (!auth.secret) throw new Error('signing needs JWT_SECRET (tokens from a JWKS issuer are signed elsewhere)');
  const now = Math.floor(Date.now() / 1000);
  const expiresAt = now + opts.ttlSeconds;
  let jwt = new SignJWT(claimsOf(opts, now))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.userId)
    .setIssuedAt(now)
    .setExpirationTime(expiresAt);
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  return { token: await jwt.sign(auth.secret), expiresAt };
}
