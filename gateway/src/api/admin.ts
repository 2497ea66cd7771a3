/**
 * The operator's page (/admin) and its API under /admin/api/: who may use it is admin-auth.ts,
 * the live feed admin-feed.ts; here, what an operator may read and do. Reads need a signed-in
 * operator; every action also needs the Origin and CSRF checks (admin-auth.ts `actor`), is done
 * by the server API's own code (cluster.ts, the publisher) and is logged with the operator's name.
 *   GET  /admin                     the page (404 while no operator exists, like every /admin path)
 *   GET  /admin/api/info            nodes: lease, connections, users, memory, messages in/out per second
 *   GET  /admin/api/online?q=&cursor=&limit=   online users (a page, or those matching q), each with their actions
 *   GET  /admin/api/channels, /admin/api/presence   as /api/channels and /api/presence
 *   GET  /admin/api/history?action=&limit=     the action's recent messages (actions with history)
 *   POST /admin/api/disconnect {userId}        as /api/disconnect: close 4003 on every node, revoke the user's tokens
 *   POST /admin/api/unsubscribe {userId, action}
 *   POST /admin/api/publish {action, data}     as /api/publish: from {system: true}
 */
import { z } from 'zod';
import { ACTION_NAME } from '../../../shared/protocol.js';
import { decodeFrame } from '../../../shared/frames.js';
import type { Broker, HistoryPolicy } from '../broker/types.js';
import type { Logger } from '../log.js';
import type { ClusterQueries } from '../node/queries.js';
import { PublishTooLarge, type Publish } from '../node/publisher.js';
import type { PresenceStore } from '../presence/types.js';
import type { ApiReply } from '../transport/http.js';
import type { Route, RouteRequest, Routes } from '../transport/server.js';
import type { UserDirectory } from '../users/types.js';
import type { AdminAuth, Operator } from './admin-auth.js';
import { nodesNow, type AdminFeed, type AdminFeedDeps } from './admin-feed.js';
import type { ClusterOps } from './cluster.js';
import { parsePublishBody } from './publish.js';
import { answer, fail, invalid, noStore, readJson } from './request.js';

export interface AdminApiDeps {
  auth: AdminAuth;
  feed: AdminFeed;
  ops: ClusterOps;
  users: UserDirectory;
  presence: PresenceStore;
  stats: AdminFeedDeps['stats'];
  queries: Pick<ClusterQueries, 'userActions'>;
  broker: Pick<Broker, 'history'>;
  historyOf: (action: string) => HistoryPolicy | undefined;
  publish: Publish;
  /** The operator actions' log (each line names the operator). */
  log: Logger;
}

const onlineQuery = z.object({
  q: z.string().max(64).default(''), cursor: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(200).default(100),
});
const historyQuery = z.object({ action: z.string().regex(ACTION_NAME), limit: z.coerce.number().int().min(1).max(100).default(20) });
const disconnectBody = z.object({ userId: z.string().min(1).max(256), reason: z.string().max(123).optional() }).strict();
const unsubscribeBody = z.object({ userId: z.string().min(1).max(256), action: z.string().regex(ACTION_NAME) }).strict();

const withNoStore = (r: ApiReply): ApiReply => ({ ...r, headers: { ...noStore, ...r.headers } });

function parsed<T>(schema: z.ZodType<T>, input: unknown): { ok: T } | ApiReply {
  const p = schema.safeParse(input);
  return p.success ? { ok: p.data } : invalid(p.error);
}

export function createAdminApi(d: AdminApiDeps): Pick<Routes, 'get' | 'post' | 'streams'> {
  const { log } = d;
  /** A read route: a signed-in operator, then `read`. */
  const reader = (read: (req: RouteRequest) => Promise<ApiReply>): Route => async (req) => {
    const op = await d.auth.operator(req);
    return withNoStore('status' in op ? op : await read(req));
  };
  /** An action: Origin, session and CSRF token, a JSON body, then `act`; logged with the operator's name. */
  const actor = (name: string, act: (json: unknown, op: Operator) => Promise<ApiReply>): Route => async (req, body) => {
    const op = await d.auth.actor(req);
    if ('status' in op) return withNoStore(op);
    const read = await readJson(req, body);
    if ('status' in read) return withNoStore(read);
    const r = await act(read.json, op);
    log.info({ operator: op.user.username, operatorId: op.user.id, command: name, status: r.status, ...summary(read.json) }, 'operator action');
    return withNoStore(r);
  };

  return {
    get: {
      ...d.auth.routes.get,
      '/admin/api/info': reader(() => answer(async () => ({ nodes: await nodesNow(d), onlineCount: await d.presence.onlineCount() }))),
      '/admin/api/online': reader((req) => online(d, req.query)),
      '/admin/api/channels': reader((req) => d.ops.channels(req.query)),
      '/admin/api/presence': reader((req) => d.ops.presence(req.query)),
      '/admin/api/history': reader((req) => history(d, req.query)),
    },
    post: {
      ...d.auth.routes.post,
      '/admin/api/disconnect': actor('disconnect', async (json) => {
        const b = parsed(disconnectBody, json);
        return 'status' in b ? b : d.ops.disconnect({ userId: b.ok.userId, reason: b.ok.reason ?? 'disconnected by an operator' });
      }),
      '/admin/api/unsubscribe': actor('unsubscribe', async (json) => {
        const b = parsed(unsubscribeBody, json);
        return 'status' in b ? b : d.ops.unsubscribe(b.ok);
      }),
      '/admin/api/publish': actor('publish', (json) => publishOne(d.publish, json)),
    },
    streams: { '/admin/api/feed': d.feed.route },
  };
}

/** What an action's log line names: the user and action it was about, never message data. */
function summary(json: unknown): Record<string, unknown> {
  const b = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
  return Object.fromEntries(['userId', 'action'].filter((k) => typeof b[k] === 'string').map((k) => [k, String(b[k]).slice(0, 256)]));
}

/** Online users with names and the actions they joined: a page of the online set, or the directory's matches that are online. */
async function online(d: AdminApiDeps, text: string): Promise<ApiReply> {
  const q = parsed(onlineQuery, Object.fromEntries(new URLSearchParams(text)));
  if ('status' in q) return q;
  const { q: search, cursor, limit } = q.ok;
  return answer(async () => {
    let ids: string[];
    let next: string | undefined;
    if (search.trim()) {
      const found = d.users.search(search, 100);
      const on = await d.presence.isOnline(found.map((u) => u.id));
      ids = found.filter((_, i) => on[i]).map((u) => u.id).slice(0, limit);
    } else {
      const page = await d.presence.online(cursor, limit);
      ids = page.users;
      next = page.cursor;
    }
    const [count, joined] = await Promise.all([d.presence.onlineCount(), d.queries.userActions(ids)]);
    const known = new Map(d.users.byIds(ids).map((u) => [u.id, u]));
    const users = ids.map((id) => ({
      id, username: known.get(id)?.username ?? id, displayName: known.get(id)?.displayName ?? id, actions: joined.actions[id] ?? [],
    }));
    return { users, count, ...(next ? { cursor: next } : {}), missing: joined.missing };
  });
}

/** The action's last messages, oldest first, as members received them; `history: false` for actions that keep none. */
async function history(d: AdminApiDeps, text: string): Promise<ApiReply> {
  const q = parsed(historyQuery, Object.fromEntries(new URLSearchParams(text)));
  if ('status' in q) return q;
  const { action, limit } = q.ok;
  const policy = d.historyOf(action);
  if (!policy) return { status: 200, body: { action, history: false, messages: [] } };
  return answer(async () => {
    const read = await d.broker.history(action, { last: limit, limit, policy });
    const messages = read.messages.flatMap(({ offset, payload }) => {
      const frame = decodeFrame(payload);
      return frame?.type === 'message' ? [{ offset, from: frame.from, data: frame.data, ts: frame.ts }] : [];
    });
    return { action, history: true, messages };
  });
}

async function publishOne(publish: Publish, json: unknown): Promise<ApiReply> {
  const p = parsePublishBody(json);
  if (!p.ok || p.messages.length !== 1 || (json as { messages?: unknown }).messages !== undefined) {
    return fail(400, 'bad_request', p.ok ? 'publish one {"action","data"}' : p.message);
  }
  const [m] = p.messages;
  try {
    return { status: 200, body: { published: { action: m.action, ...(await publish({ action: m.action, from: { system: true }, data: m.data })) } } };
  } catch (err) {
    if (err instanceof PublishTooLarge) return fail(413, 'too_large', err.message);
    return fail(503, 'unavailable', (err as Error).message);
  }
}

/**
 * The page's files (dist/web/admin/, built by web/build.mjs) behind the same switch as the API:
 * `/admin` and `/admin/` serve the page, `/admin/*` its assets, all 404 while no operator exists.
 */
export function adminPage(files: Routes['files'], hasOperators: () => boolean): Routes['files'] {
  if (!files) return files;
  return (path, header) => {
    if (path !== '/admin' && !path.startsWith('/admin/')) return files(path, header);
    if (!hasOperators()) return undefined;
    return files(path === '/admin' || path === '/admin/' ? '/admin/index.html' : path, header);
  };
}
