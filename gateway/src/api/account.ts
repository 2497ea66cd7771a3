/**
 * HTTP API: health, readiness, user search and who am I. Each route returns a status and a
 * body; bad input is a 4xx with an error code from the protocol table, never a 500.
 * Signing in and refreshing live in signin.ts.
 */
import { z } from 'zod';
import type { Authenticate } from '../auth/sessions.js';
import type { PresenceQueries } from '../presence/types.js';
import type { ApiReply } from '../transport/http.js';
import type { RouteRequest, Routes } from '../transport/server.js';
import { searchPeople } from '../users/people.js';
import type { UserDirectory } from '../users/types.js';
import { fail, sessionOf } from './request.js';

export interface AccountDeps {
  authenticate: Authenticate;
  users: UserDirectory;
  presence: Pick<PresenceQueries, 'isOnline'>;
  readiness: () => string[];
}

const searchQuery = z.object({
  q: z.string().max(100).default(''),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export function createAccount(d: AccountDeps): Pick<Routes, 'get'> {
  /** Lets a browser tell "token refused" from "server down": a refused upgrade shows it only a 1006. */
  async function me(req: RouteRequest): Promise<ApiReply> {
    const who = await sessionOf(d.authenticate, req);
    if ('status' in who) return who;
    return { status: 200, body: { id: who.userId, username: who.username, displayName: who.displayName, expiresAt: who.exp * 1000 } };
  }

  async function search(req: RouteRequest): Promise<ApiReply> {
    const who = await sessionOf(d.authenticate, req);
    if ('status' in who) return who;
    const parsed = searchQuery.safeParse(Object.fromEntries(new URLSearchParams(req.query)));
    if (!parsed.success) return fail(400, 'bad_request', 'q: at most 100 characters; limit: 1..100');
    try {
      return { status: 200, body: { users: await searchPeople(d.users, d.presence, parsed.data.q, parsed.data.limit) } };
    } catch {
      return fail(503, 'unavailable', 'presence store unreachable');
    }
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
  };
}
