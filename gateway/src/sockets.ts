/**
 * What happens to a socket from admission to close, as seen by presence:
 * - admitted: counted in the node's account before the upgrade (admission.ts);
 * - opened: presence feed attached, welcome sent, changes newer than its snapshot replayed;
 * - closed: action memberships end at once; presence ends after the grace window (a reload
 *   or a network blip reconnects within it, and nobody sees the user flap), at once for a
 *   deliberate close (1000: signing out), and together with the node's whole share while
 *   the node retires.
 */
import { CloseCodes, type WelcomeMessage } from '../../shared/protocol.js';
import type { createAdmission } from './admission.js';
import type { Config } from './config.js';
import { replyError, sendTo, type Connection } from './connection.js';
import type { Hub } from './hub.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { PresenceFeed } from './presence-feed.js';
import type { PresenceStore, Snapshot } from './presence/types.js';
import type { SocketHandlers } from './transport/server.js';

export interface SocketDeps {
  config: Readonly<Config>;
  admission: ReturnType<typeof createAdmission>;
  session: (conn: Connection, text: string) => void;
  hub: Hub;
  feed: PresenceFeed;
  presence: PresenceStore;
  metrics: Metrics;
  log: Logger;
  markDirty: () => void;
  /** True once the node drains: no admissions, and presence leaves with the node's share. */
  stopping: () => boolean;
}

function welcome(config: Readonly<Config>, conn: Connection, snapshot: Snapshot): string {
  const msg: WelcomeMessage = {
    type: 'welcome',
    connectionId: conn.id,
    node: config.nodeId,
    user: { id: conn.userId, username: conn.username, displayName: conn.displayName, ...(conn.avatarUrl ? { avatarUrl: conn.avatarUrl } : {}) },
    online: snapshot.online,
    onlineCount: snapshot.onlineCount,
    ...(snapshot.cursor ? { onlineCursor: snapshot.cursor } : {}),
    heartbeatMs: config.ws.idleTimeoutS > 0 ? (config.ws.idleTimeoutS * 1000) / 2 : 30_000,
    limits: { maxPayloadBytes: config.ws.maxPayloadBytes, welcomeOnline: config.presence.welcomeOnlineLimit },
  };
  return JSON.stringify(msg);
}

export function createSocketHandlers(d: SocketDeps): { handlers: SocketHandlers; cancelLingering: () => void } {
  const lingering = new Map<string, NodeJS.Timeout>();

  /** Issue the store's disconnect and drop `conn` from the account, in the same tick. */
  const countOut = (conn: Connection) => {
    lingering.delete(conn.id);
    d.hub.forget(conn);
    d.presence.disconnect(conn.userId, conn.username, conn.id, [...conn.actions]).catch((err) => {
      d.log.warn({ err, userId: conn.userId }, 'presence unreachable at disconnect; next sync repairs it');
      d.markDirty();
    });
  };

  const handlers: SocketHandlers = {
    admit: async (req) => {
      const result = d.stopping() ? { ok: false as const, status: 503 as const, reason: 'draining' } : await d.admission.admit(req);
      d.metrics.upgrades.inc({ outcome: result.ok ? 'accepted' : String(result.status) });
      return result;
    },
    abandon: (conn) => {
      void d.hub.release(conn);
      countOut(conn);
    },
    opened(conn, snapshot) {
      d.feed.watch(conn, '*');
      sendTo(conn, welcome(d.config, conn, snapshot));
      d.feed.replaySince(conn, snapshot.seq);
    },
    message: d.session,
    binary: (conn) => replyError(conn, undefined, 'bad_request', 'binary frames are not part of the protocol; send JSON text'),
    drained: () => {},
    closed(conn, code) {
      void d.hub.release(conn);
      if (d.stopping()) return;
      if (d.config.presence.graceMs === 0 || code === CloseCodes.normal) return countOut(conn);
      lingering.set(conn.id, setTimeout(() => countOut(conn), d.config.presence.graceMs));
    },
  };
  return {
    handlers,
    cancelLingering: () => {
      for (const t of lingering.values()) clearTimeout(t);
      lingering.clear();
    },
  };
}
