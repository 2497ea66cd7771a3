/**
 * Everything that happens before a WebSocket exists: find the token, check the Origin,
 * verify the token, resolve the user, and count the connection in presence. A refused
 * request never touches presence; the per-user limit (429) is checked by the store in the
 * same atomic step as the count, and a refused connection is counted nowhere. The
 * transport upgrades only on `ok: true`, and calls `abandon` when the client went away
 * before the upgrade could happen.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from './config.js';
import type { Connection } from './connection.js';
import type { Hub } from './hub.js';
import { KeyedLimiter } from './rate-limit.js';
import type { Logger } from './log.js';
import { AuthError, type Verifier } from './auth/tokens.js';
import type { PresenceStore, Snapshot } from './presence/types.js';
import { avatarUrl, type UserDirectory } from './users/types.js';

export interface UpgradeRequest {
  /** Raw query string, without '?'. */
  query: string;
  /** Sec-WebSocket-Protocol header as sent. */
  protocols: string;
  origin: string;
  ip: string;
}

export type Admitted = { ok: true; conn: Connection; snapshot: Snapshot; protocol: string };
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
  verify: Verifier;
  users: UserDirectory;
  presence: PresenceStore;
  hub: Hub;
  log: Logger;
  /** Called when a presence write may not have applied; the upkeep re-syncs this node's share. */
  markDirty: () => void;
}

export function createAdmission(d: AdmissionDeps) {
  const boot = randomBytes(3).toString('base64url');
  let counter = 0;
  // Failed upgrades per IP: a burst, refilled at one per second; past it, 429 without verifying.
  const failures = new KeyedLimiter(1, d.config.limits.badTokenBurst);

  function originAllowed(origin: string): boolean {
    return !d.config.allowedOrigins || d.config.allowedOrigins.includes(origin);
  }

  /** Counts `conn` in presence; undefined when the per-user limit refused it (then it is not counted anywhere). */
  async function countIn(conn: Connection): Promise<Snapshot | undefined> {
    // Counted locally before the store call is issued: a sync issued after this call
    // includes the connection, one issued before does not (one Redis connection keeps order).
    d.hub.add(conn);
    try {
      const { presence, limits } = d.config;
      const result = await d.presence.connect(conn.userId, conn.username, presence.welcomeOnlineLimit, limits.connectionsPerUser);
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
    let identity;
    try {
      identity = await d.verify(token ?? '');
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'invalid';
      if (reason === 'unavailable' || reason === 'timeout') return { ok: false, status: 503, reason: `token check ${reason}` };
      failures.take(req.ip);
      return { ok: false, status: 401, reason: `token ${reason}` };
    }
    const user = d.users.byId(identity.userId);
    counter += 1;
    const conn: Connection = {
      id: `${d.config.nodeId}:${boot}${counter.toString(36)}`,
      userId: identity.userId,
      username: user?.username ?? identity.name ?? identity.userId,
      displayName: user?.displayName ?? identity.name ?? identity.userId,
      avatarUrl: user && avatarUrl(user),
      exp: identity.exp,
      ip: req.ip,
      actions: new Set(),
      watching: '*',
      closed: false,
      warned: false,
      bucket: { tokens: d.config.limits.msgBurst, at: Date.now(), strikes: 0 },
      stalls: 0,
    };
    const snapshot = await countIn(conn);
    if (!snapshot) return { ok: false, status: 429, reason: 'too many connections for this user' };
    return { ok: true, conn, snapshot, protocol };
  }

  return { admit };
}
