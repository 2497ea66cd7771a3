/**
 * Composition root: wires one gateway node from its parts. Every part is injected, so
 * tests run the same wiring on memory twins or on real Redis, in process or as a child.
 */
import { CloseCodes, type WelcomeMessage } from '../../shared/protocol.js';
import { createAdmission } from './admission.js';
import { createApi } from './api.js';
import { createVerifier, type Verifier } from './auth/tokens.js';
import type { Broker } from './broker/types.js';
import type { Config } from './config.js';
import { replyError, sendTo, type Connection } from './connection.js';
import { Hub } from './hub.js';
import type { Logger } from './log.js';
import { PresenceFeed } from './presence-feed.js';
import type { PresenceStore, Snapshot } from './presence/types.js';
import { createSession } from './session.js';
import { createTransport, type Routes, type SocketHandlers } from './transport/server.js';
import type { Uws } from './transport/uws.js';
import { PresenceUpkeep } from './upkeep.js';
import type { UserDirectory } from './users/types.js';

export interface GatewayParts {
  config: Readonly<Config>;
  log: Logger;
  uws: Uws;
  broker: Broker;
  presence: PresenceStore & { start(): Promise<void> };
  users: UserDirectory;
  verify?: Verifier;
  files?: Routes['files'];
}

export interface Gateway {
  port: number;
  nodeId: string;
  connections(): number;
  /** Reasons this node should not get new clients; empty when ready. */
  readiness(): string[];
  /** The presence store came back after a disconnect: re-sync this node's share. */
  reconnected(): void;
  /** Stop accepting, close every socket with `code`, remove this node's presence. */
  stop(code?: number): Promise<void>;
}

function welcome(config: Readonly<Config>, conn: Connection, snapshot: Snapshot): string {
  const msg: WelcomeMessage = {
    type: 'welcome',
    connectionId: conn.id,
    node: config.nodeId,
    user: { id: conn.userId, username: conn.username, displayName: conn.displayName },
    online: snapshot.online,
    onlineCount: snapshot.onlineCount,
    ...(snapshot.cursor ? { onlineCursor: snapshot.cursor } : {}),
    heartbeatMs: config.ws.idleTimeoutS > 0 ? (config.ws.idleTimeoutS * 1000) / 2 : 30_000,
    limits: { maxPayloadBytes: config.ws.maxPayloadBytes, welcomeOnline: config.presence.welcomeOnlineLimit },
  };
  return JSON.stringify(msg);
}

export async function startGateway(parts: GatewayParts): Promise<Gateway> {
  const { config, log, broker, presence, users } = parts;
  const verify = parts.verify ?? createVerifier(config.auth);
  const transport = createTransport(parts.uws, config, log.child({ component: 'transport' }));
  const feed = new PresenceFeed(transport.fanout, config.presence.batchMs);
  const hub = new Hub(broker, transport.fanout, log.child({ component: 'hub' }));
  const upkeep = new PresenceUpkeep(presence, hub, feed, config.presence.leaseMs, log.child({ component: 'presence' }));
  const markDirty = () => upkeep.markDirty();
  let stopping = false;

  presence.onEvent((event) => feed.push(event));
  await presence.start();
  await upkeep.start();

  const session = createSession({
    hub, feed, broker, presence, users, fanout: transport.fanout, log: log.child({ component: 'session' }), markDirty,
    limits: { maxActions: config.ws.maxActions, onlinePage: Math.max(100, config.presence.welcomeOnlineLimit) },
  });
  const admission = createAdmission({ config, verify, users, presence, hub, log: log.child({ component: 'admission' }), markDirty });

  const countOut = (conn: Connection) => {
    const actions = [...conn.actions];
    void hub.remove(conn);
    if (stopping) return; // retire() removes this node's whole share at once
    presence.disconnect(conn.userId, conn.username, conn.id, actions).catch((err) => {
      log.warn({ err, userId: conn.userId }, 'presence unreachable at disconnect; next sync repairs it');
      markDirty();
    });
  };

  const handlers: SocketHandlers = {
    admit: (req) => (stopping ? Promise.resolve({ ok: false, status: 503, reason: 'draining' }) : admission.admit(req)),
    abandon: countOut,
    opened(conn, snapshot) {
      feed.watch(conn, '*');
      sendTo(conn, welcome(config, conn, snapshot));
      feed.replaySince(conn, snapshot.seq);
    },
    message: session,
    binary: (conn) => replyError(conn, undefined, 'bad_request', 'binary frames are not part of the protocol; send JSON text'),
    drained: () => {},
    closed: (conn) => countOut(conn),
  };

  const readiness = () => {
    const problems: string[] = [];
    if (stopping) problems.push('draining');
    if (!broker.isReady()) problems.push('cluster bus unreachable');
    return problems;
  };
  const api = createApi({
    auth: config.auth, loginTtlS: config.loginTtlS, verify, users, presence, readiness, log: log.child({ component: 'api' }),
  });
  const port = await transport.listen(handlers, { ...api, files: parts.files });
  log.info({ port, host: config.host }, 'gateway listening');

  async function stop(code: number = CloseCodes.serviceRestart): Promise<void> {
    if (stopping) return;
    stopping = true;
    transport.stopListening();
    const open = [...hub.all()];
    for (const conn of open) if (!conn.closed) conn.socket?.close(code, 'server shutting down');
    feed.close();
    try {
      await upkeep.retire();
    } catch (err) {
      upkeep.stop();
      log.warn({ err }, 'could not remove presence at stop; the lease expiry will');
    }
    log.info({ closed: open.length }, 'gateway stopped');
  }

  return { port, nodeId: config.nodeId, connections: () => hub.size, readiness, reconnected: () => upkeep.reconnected(), stop };
}
