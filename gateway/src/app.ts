/**
 * Composition root: wires one gateway node from its parts. Every part is injected, so
 * tests run the same wiring on memory twins or on real Redis, in process or as a child.
 */
import { CloseCodes } from '../../shared/protocol.js';
import { createAdmission } from './admission.js';
import { createVerifier, type Verifier } from './auth/tokens.js';
import type { Broker } from './broker/types.js';
import type { Config } from './config.js';
import { closeInBatches } from './drain.js';
import { Hub } from './hub.js';
import type { Logger } from './log.js';
import { createMetrics, stampedTs } from './metrics.js';
import { PresenceFeed, sendPresenceReset } from './presence-feed.js';
import type { PresenceStore } from './presence/types.js';
import { createSession } from './session.js';
import type { HistoryStore } from './history/types.js';
import { startInbox } from './inbox.js';
import { startPresenceAudit } from './audit.js';
import { createPublisher } from './publisher.js';
import type { Redis } from 'ioredis';
import { startSweeper } from './sweep.js';
import { createTransport, type Routes } from './transport/server.js';
import type { Uws } from './transport/uws.js';
import { PresenceUpkeep } from './upkeep.js';
import type { UserDirectory } from './users/types.js';
import { buildRoutes } from './routes.js';
import { createSocketHandlers } from './sockets.js';

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

export async function startGateway(parts: GatewayParts): Promise<Gateway> {
  const { config, log, broker, presence, users } = parts;
  const verify = parts.verify ?? createVerifier(config.auth);
  const metrics = createMetrics(config.nodeId);
  const transport = createTransport(parts.uws, config, log.child({ component: 'transport' }));
  const fanout = transport.fanout;
  const feed = new PresenceFeed(fanout, config.presence.batchMs);
  const hub = new Hub(broker, fanout, log.child({ component: 'hub' }), (payload) => {
    metrics.messagesOut.inc({ source: 'remote' });
    const ts = stampedTs(payload);
    if (ts !== undefined) metrics.deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
  });
  const upkeep = new PresenceUpkeep(presence, hub, feed, config.presence.leaseMs, log.child({ component: 'presence' }), metrics);
  const markDirty = () => upkeep.markDirty();
  let stopping = false;

  presence.onEvent((event) => feed.push(event));
  await presence.start();
  await upkeep.start();
  // Other nodes re-sync within a third of a lease after the store returns; then refresh clients' views.
  upkeep.afterResync(() => {
    setTimeout(() => {
      if (!stopping) void sendPresenceReset(presence, hub.all(), config.presence.welcomeOnlineLimit, log);
    }, Math.max(500, config.presence.leaseMs / 3)).unref();
  });

  const history = parts.history((action, frame) => hub.relay(action, frame));
  const publish = createPublisher({ fanout, broker, history, rules: config.history });
  const session = createSession({
    verify, publish, history, rules: config.history,
    metrics, hub, feed, broker, presence, users, fanout, log: log.child({ component: 'session' }), markDirty,
    limits: { maxActions: config.ws.maxActions, onlinePage: Math.max(100, config.presence.welcomeOnlineLimit), ...config.limits },
  });
  const admission = createAdmission({ config, verify, users, presence, hub, log: log.child({ component: 'admission' }), markDirty });
  const sockets = createSocketHandlers({
    config, admission, session, hub, feed, presence, metrics, log, markDirty, stopping: () => stopping,
  });
  const readiness = () => [...(stopping ? ['draining'] : []), ...(broker.isReady() ? [] : ['cluster bus unreachable'])];
  const routes = await buildRoutes({
    config, verify, users, presence, broker, hub, fanout, publish, metrics, log, readiness, draining: () => stopping,
  });
  const background = [
    parts.inbox ? startInbox(parts.inbox.redis, parts.inbox.prefix, config.nodeId, publish, log.child({ component: 'inbox' })) : () => {},
    startPresenceAudit(presence, { intervalMs: config.presence.auditIntervalMs, log: log.child({ component: 'audit' }), metrics }),
    startSweeper(() => hub.all(), { warningS: config.tokenExpiryWarningS, maxBackpressureBytes: config.ws.maxBackpressureBytes, metrics }),
  ];
  const port = await transport.listen(sockets.handlers, { ...routes, files: parts.files });
  log.info({ port, host: config.host, tls: !!config.tls }, 'gateway listening');

  async function stop(code: number = CloseCodes.serviceRestart): Promise<void> {
    if (stopping) return;
    stopping = true;
    transport.stopListening();
    for (const stopTask of background) stopTask();
    const open = [...hub.all()].filter((c) => !c.closed);
    log.info({ connections: open.length, spreadMs: config.drainSpreadMs, graceMs: config.presence.graceMs }, 'draining');
    await closeInBatches(open, code, config.drainSpreadMs);
    // Clients reconnect to other nodes meanwhile; this node keeps counting them so nobody sees them go offline.
    await new Promise((r) => setTimeout(r, config.presence.graceMs));
    sockets.cancelLingering();
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
