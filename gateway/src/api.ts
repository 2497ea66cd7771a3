/**
 * HTTP API: health, readiness, user search, login, token refresh. Each route returns a status and a body;
 * bad input is a 4xx with an error code from the protocol table, never a 500.
 */
import { z } from 'zod';
import { authenticate, fail, readJson } from './api-request.js';
import { signToken, type Verifier } from './auth/tokens.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { PresenceStore } from './presence/types.js';
import { KeyedLimiter } from './rate-limit.js';
import type { ApiReply } from './transport/http.js';
import type { Routes } from './transport/server.js';
import type { UserDirectory } from './users/types.js';
import { searchPeople } from './profile.js';

export interface ApiDeps {
  auth: Config['auth'];
  loginTtlS: number;
  verify: Verifier;
  users: UserDirectory;
  presence: PresenceStore;
  readiness: () => string[];
  log: Logger;
}

const searchQuery = z.object({
  q: z.string().max(100).default(''),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
const loginBody = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(256) });

export function createApi(d: ApiDeps): Omit<Routes, 'files'> {
  const loginByIp = new KeyedLimiter(0.2, 10);
  const loginByUser = new KeyedLimiter(0.1, 5);

  /** Lets a browser tell "token refused" from "server down": a refused upgrade shows it only a 1006. */
  async function me(req: Parameters<Routes['get'][string]>[0]): Promise<ApiReply> {
    const who = await authenticate(d.verify, req);
    if ('status' in who) return who;
    const user = d.users.byId(who.userId);
    const name = user?.username ?? who.name ?? who.userId;
    return { status: 200, body: { id: who.userId, username: name, displayName: user?.displayName ?? name, expiresAt: who.exp * 1000 } };
  }

  /** A fresh token for the bearer of a valid one (same user): lets a page refresh without the password. */
  async function refresh(req: Parameters<Routes['post'][string]>[0]): Promise<ApiReply> {
    if (!d.auth.secret) return fail(404, 'not_found', 'refresh is disabled: tokens come from the identity provider (JWKS_URL)');
    const who = await authenticate(d.verify, req);
    if ('status' in who) return who;
    const user = d.users.byId(who.userId);
    const { token, expiresAt } = await signToken(d.auth, { userId: who.userId, name: user?.displayName ?? who.name, ttlSeconds: d.loginTtlS });
    return { status: 200, headers: { 'cache-control': 'no-store' }, body: { accessToken: token, expiresAt: expiresAt * 1000 } };
  }

  async function search(req: Parameters<Routes['get'][string]>[0]): Promise<ApiReply> {
    const who = await authenticate(d.verify, req);
    if ('status' in who) return who;
    const parsed = searchQuery.safeParse(Object.fromEntries(new URLSearchParams(req.query)));
    if (!parsed.success) return fail(400, 'bad_request', 'q: at most 100 characters; limit: 1..100');
    try {
      return { status: 200, body: { users: await searchPeople(d.users, d.presence, parsed.data.q, parsed.data.limit) } };
    } catch {
      return fail(503, 'unavailable', 'presence store unreachable');
    }
  }

  async function login(req: Parameters<Routes['post'][string]>[0], body: () => Promise<Buffer>): Promise<ApiReply> {
    if (!d.auth.secret) return fail(404, 'not_found', 'login is disabled: tokens come from the identity provider (JWKS_URL)');
    const read = await readJson(req, body);
    if ('status' in read) return read;
    const parsed = loginBody.safeParse(read.json);
    if (!parsed.success) return fail(400, 'bad_request', 'expected {"username": string, "password": string}');
    const { username, password } = parsed.data;
    if (!loginByIp.take(req.ip) || !loginByUser.take(username.toLowerCase())) {
      return { ...fail(429, 'rate_limited', 'too many sign-in attempts; wait a minute'), headers: { 'retry-after': '60' } };
    }
    const user = d.users.checkPassword(username, password);
    if (!user) return fail(401, 'unauthorized', 'wrong username or password');
    const { token, expiresAt } = await signToken(d.auth, { userId: user.id, name: user.displayName, ttlSeconds: d.loginTtlS });
    d.log.info({ userId: user.id }, 'signed in');
    return {
      status: 200,
      headers: { 'cache-control': 'no-store' },
      body: { accessToken: token, expiresAt: expiresAt * 1000, user: { id: user.id, username: user.username, displayName: user.displayName } },
    };
  }

  return {
    get: {
      '/healthz': () => ({ status: 200, body: { status: 'ok' } }),
      '/readyz': () => {
        const problems = d.readiness();
        return problems.length === 0
          ? { status: 200, body: { status: 'ready' } }
          : { status: 503, body: { status: 'not_ready', problems } };
      },
      '/api/users/search': search,
      '/api/me': me,
    },
    post: { '/api/login': login, '/api/refresh': refresh },
  };
}
