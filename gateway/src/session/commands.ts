/**
 * The per-connection protocol: one handler per client message type. Handlers run after
 * the frame was decoded (the transport copies the frame to a string first, so the
 * socket library's buffer is never touched after an await). Every command that carries
 * an `id` gets exactly one `ack` or `error` with that id; a failure never closes the socket.
 */
import { decodeClientMessage, frameId } from '../../../shared/codec.js';
import { leftFrame, pongFrame } from '../../../shared/frames.js';
import { CloseCodes, type ClientMessage } from '../../../shared/protocol.js';
import type { Authenticate } from '../auth/sessions.js';
import { replyError, sendTo } from '../connection.js';
import type { ConnectionRecord } from './record.js';
import { PublishTooLarge, type Publish } from '../node/publisher.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { compileClaim } from '../channels/claims.js';
import { watchingOf, type PresenceFeed } from '../node/presence-feed.js';
import { CursorError, type PresenceQueries, type RoomMembership } from '../presence/types.js';
import { searchPeople } from '../users/people.js';
import { profileOf } from '../users/types.js';
import { joinHandlers } from './join.js';
import { membershipHandlers, removeMember, type MembershipDeps } from './membership.js';
import { createQuotas, FRAME_UNIT, WATCH_PER_S, type Quotas } from './quotas.js';
import { ack, CommandError, type Handler, type Handlers } from './replies.js';

export interface SessionDeps extends Omit<MembershipDeps, 'maxActions' | 'quotas'> {
  /** The per-user buckets (the caller prunes them: startPruning); default fresh ones. */
  quotas?: Quotas;
  authenticate: Authenticate;
  publish: Publish;
  metrics?: Pick<Metrics, 'messagesIn' | 'rateLimited' | 'protocolErrors'>;
  feed: PresenceFeed;
  presence: RoomMembership & PresenceQueries;
  limits: { maxActions: number; onlinePage: number; msgRatePerS: number; msgBurst: number; strikesBeforeClose: number };
}

function handlers(d: SessionDeps, quotas: Quotas): Handlers {
  return {
    ...joinHandlers({ ...d, quotas, maxActions: d.limits.maxActions }),
    ...membershipHandlers({ ...d, quotas, maxActions: d.limits.maxActions }),

    async publish(conn, msg) {
      if (!conn.actions.has(msg.action)) throw new CommandError('not_member', `join "${msg.action}" before publishing to it`);
      const allowed = d.access.publish(conn, d.channels.rules(msg.action));
      if (!allowed.ok) throw new CommandError(allowed.code, allowed.message);
      const from = { userId: conn.userId, username: conn.username, displayName: conn.displayName };
      let result;
      try {
        result = await d.publish({ action: msg.action, from, data: msg.data, sender: conn.socket, echo: msg.echo });
      } catch (err) {
        throw new CommandError(err instanceof PublishTooLarge ? 'too_large' : 'unavailable', (err as Error).message);
      }
      ack(conn, msg, result);
    },

    ping(conn, msg) {
      sendTo(conn, pongFrame(msg.id, Date.now()));
    },

    async search(conn, msg) {
      ack(conn, msg, { users: await searchPeople(d.users, d.presence, msg.q, msg.limit ?? 20) });
    },

    async watch(conn, msg) {
      if (!quotas.watch(conn.userId)) throw new CommandError('rate_limited', `at most ${WATCH_PER_S} watch changes a second; this one was dropped`);
      const watching = watchingOf(msg.users);
      if (conn.socket) d.feed.follow(conn.socket, conn.watching, watching, msg.count);
      conn.watching = watching;
      const mode = { onlineCount: d.feed.count, onlineListed: d.feed.listed };
      if (msg.users === '*') return ack(conn, msg, { watching: '*', ...mode });
      const flags = await d.presence.isOnline(msg.users);
      ack(conn, msg, { watching: msg.users.length, online: msg.users.filter((_, i) => flags[i]), ...mode });
    },

    async online(conn, msg) {
      try {
        ack(conn, msg, await d.presence.online(msg.cursor, d.limits.onlinePage));
      } catch (err) {
        if (err instanceof CursorError) throw new CommandError('bad_request', 'online: cursor is not one this server handed out');
        throw err;
      }
    },

    users(conn, msg) {
      const users = d.users.byIds(msg.ids).map(profileOf);
      ack(conn, msg, { users });
    },

    async refresh(conn, msg) {
      let session;
      try {
        session = await d.authenticate(msg.token);
      } catch {
        throw new CommandError('unauthorized', 'refresh token is invalid, expired or revoked; the current one stays in force');
      }
      if (session.userId !== conn.userId) throw new CommandError('forbidden', 'refresh token is for another user');
      // An older token (earlier exp) changes nothing; a newer one brings its expiry and its claim.
      if (session.exp < conn.exp) return ack(conn, msg, { expiresAt: conn.exp * 1000 });
      if (session.exp > conn.exp) conn.warned = false;
      conn.exp = session.exp;
      conn.channels = session.channels ? compileClaim(session.channels) : undefined;
      await leaveUncovered(d, conn);
      ack(conn, msg, { expiresAt: conn.exp * 1000 });
    },
  };
}

/**
 * Actions of `claim` namespaces that the connection's (refreshed) claim no longer covers are left,
 * each with a `left` frame, as if the backend had unsubscribed the connection: the claim a socket
 * holds is the one of its newest token, for joins made before the refresh too.
 */
async function leaveUncovered(d: SessionDeps, conn: ConnectionRecord): Promise<void> {
  for (const action of [...conn.actions]) {
    if (d.channels.rules(action).subscribe !== 'claim' || conn.channels?.matches(action)) continue;
    if (await removeMember(d, conn, action)) sendTo(conn, leftFrame(action, 'the refreshed token\'s channels claim does not include this action'));
  }
}

/** Build the frame handler for text frames. Never throws; errors become `error` frames. */
export function createSession(deps: SessionDeps): (conn: ConnectionRecord, text: string) => void {
  const quotas = deps.quotas ?? createQuotas(deps.limits);
  const table = handlers(deps, quotas);
  const { msgRatePerS, msgBurst, strikesBeforeClose } = deps.limits;
  return (conn, text) => {
    deps.metrics?.messagesIn.inc();
    const verdict = quotas.frame(conn, text);
    if (verdict !== 'ok') {
      deps.metrics?.rateLimited.inc({ limit: verdict === 'user' ? 'user' : 'frames' });
      if (verdict === 'connection' && (conn.strikes += 1) >= strikesBeforeClose) return conn.socket?.close(CloseCodes.rateLimited, 'rate limited');
      // Refused before decoding; the id (small frames only) lets the client retry that request.
      const why = verdict === 'user'
        ? 'this user\'s connections together are over their share of this node'
        : `at most ${msgRatePerS} frame units per second (burst ${msgBurst}; a frame costs 1 + 1 per ${FRAME_UNIT} bytes)`;
      return replyError(conn, frameId(text), 'rate_limited', `${why}; this frame was dropped`);
    }
    const decoded = decodeClientMessage(text);
    if (!decoded.ok) {
      deps.metrics?.protocolErrors.inc({ code: decoded.code });
      return replyError(conn, decoded.id, decoded.code, decoded.message);
    }
    const msg = decoded.msg;
    const handler = table[msg.type] as Handler<typeof msg.type>;
    let pending: Promise<void> | void;
    try {
      pending = handler(conn, msg as never);
    } catch (err) {
      return fail(deps.log, conn, msg, err);
    }
    if (pending) pending.catch((err) => fail(deps.log, conn, msg, err));
  };
}

function fail(log: Logger, conn: ConnectionRecord, msg: ClientMessage, err: unknown): void {
  if (err instanceof CommandError) return replyError(conn, msg.id, err.code, err.message);
  log.error({ err, type: msg.type, connectionId: conn.id }, 'command failed');
  replyError(conn, msg.id, 'unavailable', `${msg.type} failed: a backing service is unreachable`);
}
