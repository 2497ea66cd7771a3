/**
 * What happens to a socket from admission to close, as seen by presence:
 * - admitted: counted in the node's account before the upgrade (admission.ts);
 * - opened: presence feed attached, welcome sent, changes newer than its snapshot replayed;
 * - closed: action memberships end at once; presence ends after the grace window (a reload
 *   or a network blip reconnects within it, and nobody sees the user flap), at once for a
 *   deliberate close (1000: signing out), and together with the node's whole share while
 *   the node retires;
 * - drain (the node stops): no admissions; sockets closed in jittered batches; presence kept
 *   for the grace window so clients reconnect elsewhere without anyone seeing them flap.
 */
import { welcomeFrame } from '../../../shared/frames.js';
import { CloseCodes } from '../../../shared/protocol.js';
import type { createAdmission, SocketData } from './admission.js';
import { closeInBatches } from './drain.js';
import type { Config } from '../config.js';
import { isOpen, replyError, sendTo } from '../connection.js';
import type { ConnectionRecord } from './record.js';
import type { Hub } from '../node/hub.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { PresenceFeed } from '../node/presence-feed.js';
import type { PresenceAccount, Snapshot } from '../presence/types.js';
import type { SocketHandlers } from '../transport/socket.js';

export interface SocketDeps {
  config: Readonly<Config>;
  admission: ReturnType<typeof createAdmission>;
  session: (conn: ConnectionRecord, text: string) => void;
  hub: Hub<ConnectionRecord>;
  feed: PresenceFeed;
  presence: Pick<PresenceAccount, 'disconnect'>;
  metrics: Metrics;
  log: Logger;
  markDirty: () => void;
}

export interface Lifecycle {
  handlers: SocketHandlers<SocketData>;
  /** True once the node drains: no admissions, and presence leaves with the node's share. */
  draining(): boolean;
  /** Close every socket with `code`, spread over DRAIN_SPREAD_MS, then wait out the grace window. */
  drain(code: number): Promise<number>;
}

/**
 * `feed.listed` false (the `*` feed counts): the welcome lists nobody and has no cursor, and its
 * count is the feed's (the last `presence_count`'s: later frames follow from it), not the snapshot's.
 */
function welcome(config: Readonly<Config>, conn: ConnectionRecord, snapshot: Snapshot, feed: Pick<PresenceFeed, 'listed' | 'count'>): string {
  const listed = feed.listed;
  return welcomeFrame({
    connectionId: conn.id,
    node: config.nodeId,
    user: { id: conn.userId, username: conn.username, displayName: conn.displayName, ...(conn.avatarUrl ? { avatarUrl: conn.avatarUrl } : {}) },
    online: listed ? snapshot.online : [],
    onlineCount: listed ? snapshot.onlineCount : feed.count,
    ...(listed && snapshot.cursor ? { onlineCursor: snapshot.cursor } : {}),
    onlineListed: listed,
    heartbeatMs: config.ws.idleTimeoutS > 0 ? (config.ws.idleTimeoutS * 1000) / 2 : 30_000,
    limits: { maxPayloadBytes: config.ws.maxPayloadBytes, welcomeOnline: config.presence.welcomeOnlineLimit },
  });
}

export function createLifecycle(d: SocketDeps): Lifecycle {
  const lingering = new Map<string, NodeJS.Timeout>();
  let draining = false;
  let drainCode: number = CloseCodes.serviceRestart;

  /** Issue the store's disconnect and drop `conn` from the account, in the same tick. */
  const countOut = (conn: ConnectionRecord) => {
    lingering.delete(conn.id);
    d.hub.forget(conn);
    d.presence.disconnect(conn.userId, conn.username, conn.id, [...conn.actions]).catch((err) => {
      d.log.warn({ err, userId: conn.userId }, 'presence unreachable at disconnect; next sync repairs it');
      d.markDirty();
    });
  };

  const handlers: SocketHandlers<SocketData> = {
    admit: async (req) => {
      const result = draining ? { ok: false as const, status: 503 as const, reason: 'draining' } : await d.admission.admit(req);
      d.metrics.upgrades.inc({ outcome: result.ok ? 'accepted' : String(result.status) });
      return result;
    },
    abandon: ({ conn }) => {
      void d.hub.release(conn);
      countOut(conn);
    },
    opened(data, socket) {
      const { conn, snapshot } = data;
      data.snapshot = undefined; // it can hold a thousand ids: needed for the welcome only
      conn.socket = socket;
      // Admitted before the drain began, upgraded after it took its list: close it like the rest.
      if (draining) return socket.close(drainCode, 'service restart');
      d.feed.follow(socket, undefined, conn.watching);
      // The welcome lists users exactly when the feed does; a switch after it comes as a frame.
      sendTo(conn, welcome(d.config, conn, snapshot!, d.feed));
      d.feed.replaySince(conn, snapshot!);
    },
    message: ({ conn }, text) => d.session(conn, text),
    binary: ({ conn }) => replyError(conn, undefined, 'bad_request', 'binary frames are not part of the protocol; send JSON text'),
    drained: () => {},
    closed({ conn }, code) {
      void d.hub.release(conn);
      if (draining) return;
      if (d.config.presence.graceMs === 0 || code === CloseCodes.normal) return countOut(conn);
      lingering.set(conn.id, setTimeout(() => countOut(conn), d.config.presence.graceMs));
    },
  };

  async function drain(code: number): Promise<number> {
    draining = true;
    drainCode = code;
    // Open, or admitted and not yet upgraded (`opened` closes those with the drain code).
    const open = [...d.hub.all()].filter((c) => !c.socket || isOpen(c));
    d.log.info({ connections: open.length, spreadMs: d.config.drainSpreadMs, graceMs: d.config.presence.graceMs }, 'draining');
    await closeInBatches(open, code, d.config.drainSpreadMs);
    // Clients reconnect to other nodes meanwhile; this node keeps counting them so nobody sees them go offline.
    await new Promise((r) => setTimeout(r, d.config.presence.graceMs));
    for (const t of lingering.values()) clearTimeout(t);
    lingering.clear();
    return open.length;
  }

  return { handlers, draining: () => draining, drain };
}
