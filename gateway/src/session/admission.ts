/**
 * Everything that happens before a WebSocket exists: find the token, check the Origin,
 * verify the token, resolve the user, and count the connection in presence. A refused
 * request never touches presence; the per-user limit (429) is checked by the store in the
 * same atomic step as the count, and a refused connection is counted nowhere. The
 * transport upgrades only on `ok: true`, and calls `abandon` when the client went away
 * before the upgrade could happen.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { NO_ACTIONS } from '../connection.js';
import type { ConnectionRecord } from './record.js';
import type { Hub } from '../node/hub.js';
import type { UpgradeRequest } from '../transport/socket.js';
import { KeyedLimiter } from '../limits/buckets.js';
import type { Logger } from '../log.js';
import type { Authenticate } from '../auth/sessions.js';
import { AuthError } from '../errors.js';
import { compileClaim } from '../channels/claims.js';
import type { PresenceAccount, Snapshot } from '../presence/types.js';
import { avatarUrl } from '../users/types.js';

/** What a socket carries from admission to close: the connection, and its welcome snapshot until open. */
export interface SocketData { conn: ConnectionRecord; snapshot?: Snapshot }

export type Admitted = { ok: true; data: SocketData; protocol: string };
export type Refused = { ok: false; status: 401 | 403 | 429 | 503; reason: string };

/** The token from `?token=` or from the subprotocol pair `bearer, <token>`; the protocol to answer with. */
export function findToken(req: Pick<UpgradeRequest, 'query' | 'protocols'>): { token?: string; protocol: string } {
  const offered = req.protocols.split(',').map((p) => p.trim()).filter(Boolean);
  if (offered.length >= 2 && offered[0].toLowerCase() === 'bearer') return { token: offered[1], protocol: offered[0] };
  const token = new URLSearchParams(req.query).get('token') ?? undefined;
  return { token: token || undefined, protocol: '' };
}

export interface AdmissionDeps {
  config: Pick<Config, 'nodeId' | 'allowedOrigins' | 'presence' | 'limits'>;
  authenticate: Authenticate;
  presence: Pick<PresenceAccount, 'connect'>;
  /** Whether the `*` feed lists users: when it counts, the welcome lists nobody, so the snapshot reads no ids. */
  listed?: () => boolean;
  hub: Hub<ConnectionRecord>;
  log: Logger;
  /** Called when a presence write may not have applied; the upkeep re-syncs this node's share. */
  markDirty: () => void;
}

export function createAdmission(d: AdmissionDeps) {
  const boot = randomBytes(3).toString('base64url');
  let counter = 0;
  // Failed upgrades per IP: a burst, refilled at one per second; past it, 429 without verifying.
  const failures = new KeyedLimiter(1, d.config.limits.badTokenBurst);
  // New connections per user on this node: a reconnect loop (connect, close 1000, repeat) would
  // otherwise send every watcher a presence change per cycle.
  const connects = new KeyedLimiter(d.config.limits.connectRatePerS, d.config.limits.connectBurst);

  function originAllowed(origin: string): boolean {
    return !d.config.allowedOrigins || d.config.allowedOrigins.includes(origin);
  }

  /** Counts `conn` in presence; undefined when the per-user limit refused it (then it is not counted anywhere). */
  async function countIn(conn: ConnectionRecord): Promise<Snapshot | undefined> {
    // Counted locally before the store call is issued: a sync issued after this call
    // includes the connection, one issued before does not (one Redis connection keeps order).
    d.hub.add(conn);
    try {
      const { presence, limits } = d.config;
      // A snapshot of 0 ids still pages the whole set from its cursor, should the feed list again by the welcome.
      const ids = d.listed?.() === false ? 0 : presence.welcomeOnlineLimit;
      const result = await d.presence.connect(conn.userId, conn.username, ids, limits.connectionsPerUser);
      if (!result.refused) return result.snapshot;
      d.hub.forget(conn);
      // A sync issued while the refused connect was in flight counted `conn` in this node's
      // share; re-sync (coalesced by the upkeep, at most one per lease/3) to take it out.
      d.markDirty();
      return undefined;
    } catch (err) {
      d.log.warn({ err, userId: conn.userId }, 'presence unreachable at connect; admitting in degraded mode');
      d.markDirty();
      const local = [...new Set([...d.hub.all()].map((c) => c.userId))];
      return { seq: 0, online: local, onlineCount: local.length };
    }
  }

  async function admit(req: UpgradeRequest): Promise<Admitted | Refused> {
    if (!originAllowed(req.origin)) return { ok: false, status: 403, reason: 'origin not allowed' };
    if (!failures.available(req.ip)) return { ok: false, status: 429, reason: 'too many failed upgrades from this address' };
    const { token, protocol } = findToken(req);
    let session;
    try {
      session = await d.authenticate(token ?? '');
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'invalid';
      if (reason === 'unavailable' || reason === 'timeout') return { ok: false, status: 503, reason: `token check ${reason}` };
      failures.take(req.ip);
      return { ok: false, status: 401, reason: `token ${reason}` };
    }
    if (!connects.take(session.userId)) return { ok: false, status: 429, reason: 'too many new connections for this user; retry in a moment' };
    counter += 1;
    const conn: ConnectionRecord = {
      id: `${d.config.nodeId}:${boot}${counter.toString(36)}`,
      userId: session.userId,
      username: session.username,
      displayName: session.displayName,
      avatarUrl: session.user && avatarUrl(session.user),
      exp: session.exp,
      channels: session.channels ? compileClaim(session.channels) : undefined,
      ip: req.ip,
      actions: NO_ACTIONS,
      joining: 0,
      watching: '*',
      warned: false,
      tokens: d.config.limits.msgBurst, at: Date.now(), strikes: 0,
      stalls: 0,
      socket: undefined, // set at open; declared here so the object keeps one shape (no out-of-object property store)
    };
    const snapshot = await countIn(conn);
    if (!snapshot) return { ok: false, status: 429, reason: 'too many connections for this user' };
    return { ok: true, data: { conn, snapshot }, protocol };
  }

  return { admit };
}
