/**
 * A once-a-second pass over this node's open connections (O(n), about a millisecond per
 * 50,000 sockets), for what no socket event tells us:
 * - token lifetime: `token_expiring` once, TOKEN_EXPIRY_WARNING_S before `exp`; at `exp`
 *   the socket is closed with 4001 unless a `refresh` moved `exp` forward;
 * - slow consumers: a socket whose send buffer stayed near the backpressure cap for two
 *   passes in a row has stopped reading; it is closed with 4008 so it stops holding memory
 *   (uWebSockets.js already drops what would go past the cap).
 */
import { tokenExpiringFrame } from '../../../shared/frames.js';
import { CloseCodes } from '../../../shared/protocol.js';
import { sendTo } from '../connection.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionRecord } from './record.js';

export interface SweepOptions {
  warningS: number;
  maxBackpressureBytes: number;
  metrics?: Pick<Metrics, 'slowConsumers' | 'tokenExpiredCloses'>;
}

export function sweepConnection(conn: ConnectionRecord, nowMs: number, o: SweepOptions): void {
  if (!conn.socket?.isOpen()) return;
  const expMs = conn.exp * 1000;
  if (nowMs >= expMs) {
    o.metrics?.tokenExpiredCloses.inc();
    conn.socket.close(CloseCodes.tokenExpired, 'token expired');
    return;
  }
  if (!conn.warned && expMs - nowMs <= o.warningS * 1000) {
    conn.warned = true;
    sendTo(conn, tokenExpiringFrame(expMs));
  }
  if (conn.socket.bufferedAmount() >= o.maxBackpressureBytes * 0.5) {
    conn.stalls += 1;
    if (conn.stalls >= 2) {
      o.metrics?.slowConsumers.inc();
      conn.socket.close(CloseCodes.slowConsumer, 'slow consumer');
    }
  } else conn.stalls = 0;
}

export function startSweeper(connections: () => Iterable<ConnectionRecord>, o: SweepOptions, everyMs = 1000): () => void {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const conn of connections()) sweepConnection(conn, now, o);
  }, everyMs);
  return () => clearInterval(timer);
}
