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
import { closeInBatches } from './drain.js';
import { Hub } from './hub.js';
import type { Logger } from './log.js';
import { createMetrics, stampedTs } from './metrics.js';
import { PresenceFeed } from './presence-feed.js';
import type { PresenceStore, Snapshot } from './presence/types.js';
import { createSession } from './session.js';
import type { HistoryStore } from './history/types.js';
import { startInbox } from './inbox.js';
import { startPresenceAudit } from './audit.js';
import { createPublishRoute } from './publish-api.js';
import { createPublisher } from './publisher.js';
import type { Redis } from 'ioredis';
import { startSweeper } from './sweep.js';
import { createTransport, type Routes, type SocketHandlers } from './transport/server.js';
import type { Uws } from './transport/uws.js';
import { PresenceUpkeep } from './upkeep.js';
import { avatarUrl, type UserDirectory } from './users/types.js';
import { createProfiles } from './profile.js';

export interface GatewayParts {
  config: Readonly<Config>;
  log: Logger;
  uws: Uws;
  broker: Broker;
  presence: PresenceStore & { start(): Promise<void> };
  /** Builds the history store; `relay` delivers a frame to this node's members. */
  history: (relay: (action: string, frame: string) => void) => HistoryStore;
  /** Consume the Redis publish inbox on this connection (Redis mode). */
  inbox?: { redis: Redis; prefix: string };
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
  /**
   * Drain: stop accepting, close sockets in jittered batches with `code`, keep this node's
   * presence for the grace window (clients reconnect elsewhere without flapping), then retire it.
   */
  stop(code?: number): Promise<void>;
}

function welcome(config: Readonly<Config>, conn: Connection, snapshot: Snapshot, avatar?: string): string {
  const msg: WelcomeMessage = {
    type: 'welcome',
    connectionId: conn.id,
    node: config.nodeId,
    user: { id: conn.userId, username: conn.username, displayName: conn.displayName, ...(avatar ? { avatarUrl: avatar } : {}) },
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
  const metrics = createMetrics(config.nodeId);
  const transport = createTransport(parts.uws, config, log.child({ component: 'transport' }));
  const feed = new PresenceFeed(transport.fanout, config.presence.batchMs);
  const hub = new Hub(broker, transport.fanout, log.child({ component: 'hub' }), (payload) => {
    metrics.messagesOut.inc({ source: 'remote' });
    const ts = stampedTs(payload);
    if (ts !== undefined) metrics.deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
  });
  const upkeep = new PresenceUpkeep(presence, hub, feed, config.presence.leaseMs, log.child({ component: 'presence' }), metrics);
  const markDirty = () => upkeep.markDirty();
  const lingering = new Map<string, NodeJS.Timeout>();
  let stopping = false;

  presence.onEvent((event) => feed.push(event));
  await presence.start();
  await upkeep.start();
  // Other nodes re-sync within a lease third of the store's return; then refresh clients' views.
  upkeep.afterResync(() => {
    setTimeout(() => void resetViews(), Math.max(500, config.presence.leaseMs / 3)).unref();
  });
  async function resetViews(): Promise<void> {
    if (stopping) return;
    try {
      const page = await presence.online(undefined, config.presence.welcomeOnlineLimit);
      const frame = JSON.stringify({ type: 'presence_reset', online: page.users, ...(page.cursor ? { onlineCursor: page.cursor } : {}) });
      for (const c of hub.all()) if (!c.closed && c.watching === '*') sendTo(c, frame);
      log.info({ users: page.users.length }, 'sent clients a fresh presence snapshot after the store returned');
    } catch (err) {
      log.warn({ err }, 'presence reset snapshot failed');
    }
  }

  const history = parts.history((action, frame) => hub.relay(action, frame));
  const publish = createPublisher({ fanout: transport.fanout, broker, history, rules: config.history });
  const stopInbox = parts.inbox
    ? startInbox(parts.inbox.redis, parts.inbox.prefix, config.nodeId, publish, log.child({ component: 'inbox' }))
    : () => {};
  const session = createSession({
    verify, publish, history, rules: config.history,
    metrics, hub, feed, broker, presence, users, fanout: transport.fanout, log: log.child({ component: 'session' }), markDirty,
    limits: { maxActions: config.ws.maxActions, onlinePage: Math.max(100, config.presence.welcomeOnlineLimit), ...config.limits },
  });
  const admission = createAdmission({ config, verify, users, presence, hub, log: log.child({ component: 'admission' }), markDirty });

  /** Issue the store's disconnect and drop `conn` from the account, in the same tick. */
  const countOut = (conn: Connection) => {
    lingering.delete(conn.id);
    hub.forget(conn);
    presence.disconnect(conn.userId, conn.username, conn.id, [...conn.actions]).catch((err) => {
      log.warn({ err, userId: conn.userId }, 'presence unreachable at disconnect; next sync repairs it');
      markDirty();
    });
  };
  /**
   * Socket gone: memberships end now; presence ends after the grace window (a reload or a
   * network blip reconnects within it), at once for a deliberate close (1000: signing out),
   * and with the node's whole share if it is retiring.
   */
  const closed = (conn: Connection, code: number) => {
    void hub.release(conn);
    if (stopping) return;
    if (config.presence.graceMs === 0 || code === CloseCodes.normal) return countOut(conn);
    lingering.set(conn.id, setTimeout(() => countOut(conn), config.presence.graceMs));
  };

  const handlers: SocketHandlers = {
    admit: async (req) => {
      const result = stopping ? { ok: false as const, status: 503 as const, reason: 'draining' } : await admission.admit(req);
      metrics.upgrades.inc({ outcome: result.ok ? 'accepted' : String(result.status) });
      return result;
    },
    abandon: (conn) => {
      void hub.release(conn);
      countOut(conn);
    },
    opened(conn, snapshot) {
      feed.watch(conn, '*');
      const known = users.byId(conn.userId);
      sendTo(conn, welcome(config, conn, snapshot, known && avatarUrl(known)));
      feed.replaySince(conn, snapshot.seq);
    },
    message: session,
    binary: (conn) => replyError(conn, undefined, 'bad_request', 'binary frames are not part of the protocol; send JSON text'),
    drained: () => {},
    closed,
  };

  const stopAudit = startPresenceAudit(presence, {
    intervalMs: config.presence.auditIntervalMs, log: log.child({ component: 'audit' }), metrics,
  });
  const stopSweeper = startSweeper(() => hub.all(), {
    warningS: config.tokenExpiryWarningS, maxBackpressureBytes: config.ws.maxBackpressureBytes, metrics,
  });
  const readiness = () => {
    const problems: string[] = [];
    if (stopping) problems.push('draining');
    if (!broker.isReady()) problems.push('cluster bus unreachable');
    return problems;
  };
  const api = createApi({
    auth: config.auth, loginTtlS: config.loginTtlS, verify, users, presence, readiness, log: log.child({ component: 'api' }),
  });
  api.post['/api/publish'] = createPublishRoute(config.apiKeys, publish);
  const profiles = await createProfiles({
    users, hub, fanout: transport.fanout, broker, verify, avatarMaxBytes: config.avatarMaxBytes,
  });
  Object.assign(api.get, profiles.get);
  api.get['/metrics'] = async () => {
    metrics.connections.set(hub.size);
    metrics.usersOnline.set(hub.users());
    metrics.redisUp.set(broker.isReady() ? 1 : 0);
    metrics.draining.set(stopping ? 1 : 0);
    return { status: 200, body: await metrics.registry.metrics(), headers: { 'content-type': metrics.registry.contentType } };
  };
  const port = await transport.listen(handlers, { ...api, put: profiles.put, patch: profiles.patch, files: parts.files });
  log.info({ port, host: config.host, tls: !!config.tls }, 'gateway listening');

  async function stop(code: number = CloseCodes.serviceRestart): Promise<void> {
    if (stopping) return;
    stopping = true;
    transport.stopListening();
    stopSweeper();
    stopInbox();
    stopAudit();
    const open = [...hub.all()].filter((c) => !c.closed);
    log.info({ connections: open.length, spreadMs: config.drainSpreadMs, graceMs: config.presence.graceMs }, 'draining');
    await closeInBatches(open, code, config.drainSpreadMs);
    // Clients reconnect to other nodes meanwhile; this node keeps counting them so nobody sees them go offline.
    await new Promise((r) => setTimeout(r, config.presence.graceMs));
    for (const t of lingering.values()) clearTimeout(t);
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
