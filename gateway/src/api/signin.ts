/**
 * Signing in and staying signed in: `POST /api/login` and `POST /api/refresh` (HS256 mode
 * only; with JWKS_URL the identity provider issues tokens and both answer 404).
 *
 * Guessing is limited three ways, in buckets every node shares (Redis when there is one):
 * - per address, every attempt: 10 at once, then one per 5 s (one address cannot spray);
 * - per (username, address), failures only: 5, then one per minute. A wrong guess from one
 *   address never locks the owner out at another, and a correct password clears the pair;
 * - per username, failures only: 50, then one per 10 s: a looser ceiling against guesses
 *   spread over many addresses.
 * Past a limit the answer is 429 with Retry-After, before any password is checked. Failures
 * are logged with the username and address (never the password). The password check runs
 * off the event loop; when too many are queued the answer is 503.
 *
 * A login token carries `auth_time` (now) and the user's token version; a refresh keeps
 * `auth_time`, so no chain of refreshes outlives SESSION_MAX_AGE_S (sessions.ts).
 */
import { z } from 'zod';
import { refreshTtl, type Authenticate } from '../auth/sessions.js';
import { signToken } from '../auth/tokens.js';
import type { Config } from '../config.js';
import type { SharedLimits, Rule } from '../limits/types.js';
import type { Logger } from '../log.js';
import type { ApiReply, RouteRequest } from '../transport/http.js';
import type { Route, Routes } from '../transport/server.js';
import { PasswordChecksBusy } from '../users/passwords.js';
import type { User, UserDirectory } from '../users/types.js';
import { fail, noStore, readJson, sessionOf } from './request.js';

export const SIGN_IN_LIMITS = {
  address: { name: 'login-ip', ratePerSec: 0.2, burst: 10 },
  pair: { name: 'login-fail-pair', ratePerSec: 1 / 60, burst: 5 },
  user: { name: 'login-fail-user', ratePerSec: 0.1, burst: 50 },
} satisfies Record<string, Rule>;

export interface SignInDeps {
  auth: Config['auth'];
  loginTtlS: number;
  authenticate: Authenticate;
  users: UserDirectory;
  limits: SharedLimits;
  log: Logger;
}

const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });

const tooMany = (seconds: number): ApiReply => ({ ...fail(429, 'rate_limited', 'too many sign-in attempts; wait and retry'), headers: { 'retry-after': String(seconds) } });

/**
 * The sign-in every route shares (`/api/login` here, the operator's at /admin): the body
 * `{username, password}` read and checked, the limits above, then the password. The user, or the
 * reply that refuses the attempt (400, 429, 503, 401). Both routes count in the same buckets, so
 * /admin is no second guessing budget.
 */
export async function checkSignIn(
  d: Pick<SignInDeps, 'users' | 'limits' | 'log'>, req: RouteRequest, body: () => Promise<Buffer>,
): Promise<{ user: User } | ApiReply> {
  const read = await readJson(req, body);
  if ('status' in read) return read;
  const parsed = loginBody.safeParse(read.json);
  if (!parsed.success) return fail(400, 'bad_request', 'expected {"username": string, "password": string}');
  return checkPassword(d, req.ip, parsed.data.username, parsed.data.password);
}

async function checkPassword(
  d: Pick<SignInDeps, 'users' | 'limits' | 'log'>, ip: string, username: string, password: string,
): Promise<{ user: User } | ApiReply> {
  const { address, pair, user: perUser } = SIGN_IN_LIMITS;
  const name = username.toLowerCase();
  const pairKey = `${name}|${ip}`;
  if (!(await d.limits.take(address, ip))) return tooMany(5);
  if (!(await d.limits.peek(pair, pairKey)) || !(await d.limits.peek(perUser, name))) return tooMany(60);
  let user;
  try {
    user = await d.users.checkPassword(username, password);
  } catch (err) {
    if (err instanceof PasswordChecksBusy) return { ...fail(503, 'unavailable', err.message), headers: { 'retry-after': '1' } };
    throw err;
  }
  if (!user) {
    await Promise.all([d.limits.take(pair, pairKey), d.limits.take(perUser, name)]);
    d.log.warn({ username: name, ip }, 'sign-in failed');
    return fail(401, 'unauthorized', 'wrong username or password');
  }
  await d.limits.reset(pair, pairKey);
  return { user };
}

export function createSignIn(d: SignInDeps): Pick<Routes, 'post'> {
  const off = () => fail(404, 'not_found', 'sign-in is off: tokens come from the identity provider (JWKS_URL)');

  const login: Route = async (req, body) => {
    if (!d.auth.secret) return off();
    const checked = await checkSignIn(d, req, body);
    if ('status' in checked) return checked;
    const { user } = checked;
    const { token, expiresAt } = await signToken(d.auth, { userId: user.id, name: user.displayName, ttlSeconds: d.loginTtlS, version: user.tokenVersion });
    d.log.info({ userId: user.id, ip: req.ip }, 'signed in');
    const who = { id: user.id, username: user.username, displayName: user.displayName };
    return { status: 200, headers: noStore, body: { accessToken: token, expiresAt: expiresAt * 1000, user: who } };
  };

  /** A fresh token for the bearer of a valid one (same user, same session): a page refreshes without the password. */
  const refresh: Route = async (req) => {
    if (!d.auth.secret) return off();
    const session = await sessionOf(d.authenticate, req);
    if ('status' in session) return session;
    const ttlSeconds = refreshTtl(session, d.loginTtlS, d.auth.sessionMaxAgeS);
    if (ttlSeconds < 60) return { ...fail(401, 'unauthorized', 'the session has reached its maximum age; sign in again'), headers: { 'www-authenticate': 'Bearer' } };
    const { token, expiresAt } = await signToken(d.auth, {
      userId: session.userId, name: session.displayName, ttlSeconds, authTime: session.authTime, version: session.user?.tokenVersion,
      channels: session.channels,
    });
    return { status: 200, headers: noStore, body: { accessToken: token, expiresAt: expiresAt * 1000 } };
  };

  return { post: { '/api/login': login, '/api/refresh': refresh } };
}
