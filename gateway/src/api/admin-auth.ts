/**
 * Who may use the operator's page (/admin), and how they stay signed in:
 *   POST /admin/api/signin  {username, password}  an operator's session: cookie + CSRF token
 *   POST /admin/api/signout                        ends it (CSRF token required)
 *   GET  /admin/api/session                        the signed-in operator and the CSRF token, or 401
 *
 * - Off (404 for every /admin path) while the directory has no operator (`users add --admin`).
 * - Sign-in counts in the buckets of /api/login (signin.ts: per address, per user and address,
 *   per user), so /admin is no second guessing budget. A right password of a user who is not an
 *   operator is refused (403) and creates nothing: no session, no cookie, no cluster data.
 * - The session: an opaque 256-bit id in the cookie `gw_operator` (HttpOnly, SameSite=Strict,
 *   Path=/admin, Max-Age = ADMIN_SESSION_TTL_S, Secure when the request came over TLS: native or
 *   X-Forwarded-Proto https). The store (operators/) keeps it under the id's SHA-256 in Redis,
 *   so every node honours it; its lifetime is fixed at sign-in. Every request reads the user
 *   again: an operator whose flag was revoked is refused at once (403) and one whose password
 *   changed or whose sessions were revoked (token version) is signed out (401).
 * - Cross-site requests: SameSite=Strict keeps the cookie off them, and every state-changing
 *   request (sign-in included) must carry an Origin of this host (or one of ALLOWED_ORIGINS);
 *   besides, every state-changing request of a session must repeat the session's CSRF token in
 *   `X-CSRF-Token`. A refusal (403) changes nothing.
 * - No access token or API key ever reaches the browser: the page works on the cookie alone.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SharedLimits } from '../limits/types.js';
import type { Logger } from '../log.js';
import type { OperatorSession, OperatorSessionStore } from '../operators/types.js';
import type { ApiReply } from '../transport/http.js';
import type { Route, RouteRequest } from '../transport/server.js';
import type { User, UserDirectory } from '../users/types.js';
import { fail, noStore } from './request.js';
import { checkSignIn } from './signin.js';

export const OPERATOR_COOKIE = 'gw_operator';
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** A signed-in operator: the session and the user as the directory has them now. */
export interface Operator { key: string; session: OperatorSession; user: User }

export interface AdminAuthDeps {
  users: UserDirectory;
  limits: SharedLimits;
  store: OperatorSessionStore;
  log: Logger;
  ttlS: number;
  tls: boolean;
  allowedOrigins?: readonly string[];
}

const refuse = (status: number, code: 'unauthorized' | 'forbidden' | 'not_found' | 'unavailable', message: string): ApiReply =>
  ({ ...fail(status, code, message), headers: noStore });

/** The session id in the request's `gw_operator` cookie, if it has a well-formed one. */
export function sessionIdOf(cookieHeader: string): string | undefined {
  for (const part of cookieHeader.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === OPERATOR_COOKIE && SESSION_ID.test(value.join('='))) return value.join('=');
  }
  return undefined;
}

const keyOf = (sessionId: string) => createHash('sha256').update(sessionId).digest('base64url');

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A state-changing request from a page of this host: its Origin's host name is the Host's (or it is allowed by name). */
export function fromOwnOrigin(req: Pick<RouteRequest, 'header'>, allowed: readonly string[] = []): boolean {
  const origin = req.header('origin');
  if (!origin || origin === 'null') return false;
  if (allowed.includes(origin)) return true;
  const site = req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'same-site' && site !== 'none') return false;
  try {
    // The Host as a proxy forwards it may lose its port (nginx's $host): compare host names.
    return new URL(origin).hostname === new URL(`http://${req.header('host')}`).hostname;
  } catch {
    return false;
  }
}

function cookie(value: string, maxAgeS: number, secure: boolean): string {
  return `${OPERATOR_COOKIE}=${value}; Path=/admin; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

export function createAdminAuth(d: AdminAuthDeps) {
  const secure = (req: RouteRequest) => d.tls || req.header('x-forwarded-proto').toLowerCase() === 'https';
  const off = () => refuse(404, 'not_found', 'the operator page is off: no operator exists (npm run users -- add <name> --admin)');
  const crossOrigin = () => refuse(403, 'forbidden', 'cross-origin request refused');

  /** The operator of a session key, or the refusal; a session its user no longer backs is deleted. */
  async function session(key: string): Promise<Operator | ApiReply> {
    let s: OperatorSession | undefined;
    try {
      s = await d.store.get(key);
    } catch {
      return refuse(503, 'unavailable', 'the session store is unreachable');
    }
    if (!s) return refuse(401, 'unauthorized', 'not signed in, or the session ended');
    const user = d.users.byId(s.userId);
    if (user?.admin && user.tokenVersion === s.tokenVersion) return { key, session: s, user };
    await d.store.delete(key).catch(() => {});
    d.log.warn({ operator: s.username }, 'operator session ended: no longer an operator, or the password changed');
    return user && !user.admin ? refuse(403, 'forbidden', 'not an operator') : refuse(401, 'unauthorized', 'the session ended; sign in again');
  }

  /** The operator whose session the request's cookie names, or the refusal (401, 403, 503). */
  async function signedIn(req: RouteRequest): Promise<Operator | ApiReply> {
    const id = sessionIdOf(req.header('cookie'));
    return id ? session(keyOf(id)) : refuse(401, 'unauthorized', 'not signed in');
  }

  /** The signed-in operator of a read request, or the refusal (404 while no operator exists, 401, 403, 503). */
  async function operator(req: RouteRequest): Promise<Operator | ApiReply> {
    return d.users.hasAdmins() ? signedIn(req) : off();
  }

  /** The operator of a state-changing request: also its Origin and the session's CSRF token (403 otherwise). */
  async function actor(req: RouteRequest): Promise<Operator | ApiReply> {
    if (!d.users.hasAdmins()) return off();
    if (!fromOwnOrigin(req, d.allowedOrigins)) {
      d.log.warn({ origin: req.header('origin').slice(0, 200), ip: req.ip }, 'operator request refused: cross-origin');
      return crossOrigin();
    }
    const op = await signedIn(req);
    if ('status' in op) return op;
    const csrf = req.header('x-csrf-token');
    if (csrf && sameText(csrf, op.session.csrf)) return op;
    d.log.warn({ operator: op.user.username, ip: req.ip }, 'operator request refused: missing or wrong CSRF token');
    return refuse(403, 'forbidden', 'missing or wrong CSRF token');
  }

  const signIn: Route = async (req, body) => {
    if (!d.users.hasAdmins()) return off();
    if (!fromOwnOrigin(req, d.allowedOrigins)) return crossOrigin();
    const checked = await checkSignIn(d, req, body);
    if ('status' in checked) return checked;
    const { user } = checked;
    if (!user.admin) {
      d.log.warn({ username: user.username, ip: req.ip }, 'operator sign-in refused: not an operator');
      return refuse(403, 'forbidden', 'not an operator');
    }
    const id = randomBytes(32).toString('base64url');
    const now = Date.now();
    const s: OperatorSession = {
      userId: user.id, username: user.username, csrf: randomBytes(32).toString('base64url'), tokenVersion: user.tokenVersion,
      createdAt: now, expiresAt: now + d.ttlS * 1000,
    };
    try {
      await d.store.put(keyOf(id), s);
    } catch {
      return refuse(503, 'unavailable', 'the session store is unreachable');
    }
    d.log.info({ operator: user.username, ip: req.ip }, 'operator signed in');
    return {
      status: 200, headers: { ...noStore, 'set-cookie': cookie(id, d.ttlS, secure(req)) },
      body: { user: { id: user.id, username: user.username, displayName: user.displayName }, csrf: s.csrf, expiresAt: s.expiresAt },
    };
  };

  const signOut: Route = async (req) => {
    const op = await actor(req);
    if ('status' in op) return op;
    await d.store.delete(op.key).catch(() => {});
    d.log.info({ operator: op.user.username, ip: req.ip }, 'operator signed out');
    return { status: 200, headers: { ...noStore, 'set-cookie': cookie('', 0, secure(req)) }, body: { signedOut: true } };
  };

  const current: Route = async (req) => {
    const op = await operator(req);
    if ('status' in op) return op;
    const { user, session: s } = op;
    return { status: 200, headers: noStore, body: { user: { id: user.id, username: user.username, displayName: user.displayName }, csrf: s.csrf, expiresAt: s.expiresAt } };
  };

  return {
    operator, actor, session,
    routes: { get: { '/admin/api/session': current }, post: { '/admin/api/signin': signIn, '/admin/api/signout': signOut } },
  };
}

export type AdminAuth = ReturnType<typeof createAdminAuth>;
