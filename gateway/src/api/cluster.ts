/**
 * The server API for backends (API key as for /api/publish; 404 while API_KEYS is unset):
 *   POST /api/disconnect   {userId, code?, reason?, connectionId?, revoke?} close a user's connections cluster-wide
 *   POST /api/unsubscribe  {userId, action, reason?}  remove a user from an action cluster-wide (client gets `left`)
 *   GET  /api/channels?prefix=&cursor=&limit=        actions with members, and their user counts
 *   GET  /api/presence?action=&cursor=&limit=        members of an action
 *   GET  /api/online?cursor=&limit=                  online users (a page) and how many are online
 *   GET  /api/info                                   nodes registered (leases), their users and connections
 * Commands answer `{affected, nodes, missing}`: `missing` names registered nodes that did not
 * confirm within the timeout (the command is idempotent: send it again). Unknown users and
 * actions give empty results; bad input 400/413/415; a store that cannot be reached 503.
 */
import { z } from 'zod';
import { ACTION_NAME, CloseCodes } from '../../../shared/protocol.js';
import type { Revocations } from '../auth/revocations.js';
import type { ClusterControl, ControlCommand } from '../node/control.js';
import type { PresenceStore } from '../presence/types.js';
import type { ApiReply } from '../transport/http.js';
import type { Route, RouteRequest } from '../transport/server.js';
import { answer, apiKeyGate, fail, invalid, readJson } from './request.js';

export interface ClusterOpsDeps {
  presence: PresenceStore;
  control: Pick<ClusterControl, 'run'>;
  revocations: Pick<Revocations, 'revoke'>;
}

const userId = z.string().min(1).max(256);
/** WebSocket close reasons are at most 123 bytes. */
const reason = z.string().refine((r) => Buffer.byteLength(r) <= 123, 'at most 123 bytes');
const disconnectBody = z.object({
  userId, connectionId: z.string().min(1).max(128).optional(),
  code: z.number().int().min(4000).max(4999).default(CloseCodes.disconnected),
  reason: reason.default('disconnected by the server'),
  revoke: z.boolean().optional(),
}).strict();
const unsubscribeBody = z.object({ userId, action: z.string().regex(ACTION_NAME), reason: reason.default('unsubscribed') }).strict();
const page = { cursor: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100) };
const channelsQuery = z.object({ prefix: z.string().max(200).default(''), ...page });
const presenceQuery = z.object({ action: z.string().regex(ACTION_NAME), ...page });
const onlineQuery = z.object(page);

/**
 * The server API's operations, each from its raw input (a JSON body or a query string) to its
 * reply: the API-key routes below and the operator's page (admin.ts) both call these, so a
 * disconnect from /admin is exactly /api/disconnect's.
 */
export interface ClusterOps {
  disconnect(json: unknown): Promise<ApiReply>;
  unsubscribe(json: unknown): Promise<ApiReply>;
  channels(query: string): Promise<ApiReply>;
  presence(query: string): Promise<ApiReply>;
  online(query: string): Promise<ApiReply>;
  info(query: string): Promise<ApiReply>;
}

export function clusterOps(d: ClusterOpsDeps): ClusterOps {
  const command = <S extends z.ZodType>(schema: S, toCommand: (body: z.infer<S>) => Promise<ControlCommand & { revokedAt?: number }>) =>
    async (json: unknown): Promise<ApiReply> => {
      const parsed = schema.safeParse(json);
      if (!parsed.success) return invalid(parsed.error);
      return answer(async () => {
        const cmd = await toCommand(parsed.data);
        return { ...(await d.control.run(cmd)), ...(cmd.op === 'disconnect' && cmd.revokedAt !== undefined ? { revokedAt: cmd.revokedAt } : {}) };
      });
    };
  const query = <T>(schema: z.ZodType<T>, read: (q: T) => Promise<unknown>) => async (text: string): Promise<ApiReply> => {
    const parsed = schema.safeParse(Object.fromEntries(new URLSearchParams(text)));
    if (!parsed.success) return invalid(parsed.error);
    return answer(() => read(parsed.data));
  };
  return {
    disconnect: command(disconnectBody, async (b) => {
      // Closing one connection leaves the user's tokens alone unless asked; closing the user revokes them.
      const revoke = b.revoke ?? b.connectionId === undefined;
      const revokedAt = revoke ? await d.revocations.revoke(b.userId) : undefined;
      return { op: 'disconnect', userId: b.userId, connectionId: b.connectionId, code: b.code, reason: b.reason, revokedAt };
    }),
    unsubscribe: command(unsubscribeBody, async (b) => ({ op: 'unsubscribe', ...b })),
    channels: query(channelsQuery, (q) => d.presence.channels(q.prefix, q.cursor, q.limit)),
    presence: query(presenceQuery, async (q) => ({ action: q.action, ...(await d.presence.members(q.action, q.cursor, q.limit)) })),
    online: query(onlineQuery, async (q) => {
      const [page, count] = await Promise.all([d.presence.online(q.cursor, q.limit), d.presence.onlineCount()]);
      return { ...page, count };
    }),
    info: query(z.object({}), async () => {
      const now = Date.now();
      const nodes = (await d.presence.nodes()).map((n) => ({ ...n, alive: n.leaseExpiresAt > now }));
      return { nodes, connections: nodes.reduce((sum, n) => sum + n.connections, 0) };
    }),
  };
}

/** The API-key routes over `ops` (the operations the operator's page shares). */
export function createClusterApi(apiKeys: readonly string[], ops: ClusterOps): { get: Record<string, Route>; post: Record<string, Route> } {
  const gate = apiKeyGate(apiKeys);
  const command = (op: (json: unknown) => Promise<ApiReply>): Route => async (req, readBody) => {
    const refused = gate(req);
    if (refused) return refused;
    const read = await readJson(req, readBody);
    return 'status' in read ? read : op(read.json);
  };
  const query = (op: (query: string) => Promise<ApiReply>): Route => async (req: RouteRequest) => gate(req) ?? op(req.query);
  return {
    post: { '/api/disconnect': command(ops.disconnect), '/api/unsubscribe': command(ops.unsubscribe) },
    get: {
      '/api/channels': query(ops.channels), '/api/presence': query(ops.presence), '/api/online': query(ops.online), '/api/info': query(ops.info),
    },
  };
}
