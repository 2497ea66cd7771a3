/**
 * Composition root: wires one gateway node from its parts. Every part is injected, so
 * tests run the same wiring on memory twins or on real Redis, in process or as a child.
 * Policies live with their owners (drain: session/lifecycle, presence upkeep: node/upkeep,
 * relay metrics: metrics.ts); this file only connects them.
 *
 * The message path: transport/server → session/commands → node/publisher → broker →
 * (Redis) → broker → node/hub (→ history/feeds) → transport fan-out.
 */
import { CloseCodes } from '../../shared/protocol.js';
import { startInbox } from './api/inbox.js';
import { buildRoutes } from './api/routes.js';
import { adminPage } from './api/admin.js';
import { createAuthenticate } from './auth/sessions.js';
import { createGrantVerifier, createVerifier, type Verifier } from './auth/tokens.js';
import { createAccess } from './channels/access.js';
import type { Broker } from './broker/types.js';
import type { SharedLimits } from './limits/types.js';
import type { Config } from './config.js';
import { HistoryFeeds } from './history/feeds.js';
import type { Logger } from './log.js';
import { createMetrics, fanOutCounter } from './metrics.js';
import { startPresenceAudit } from './node/audit.js';
import { Hub } from './node/hub.js';
import { PresenceFeed } from './node/presence-feed.js';
import { sendPresenceReset } from './node/presence-frames.js';
import { createPublisher } from './node/publisher.js';
import { RoomFeed } from './node/rooms.js';
import { ProfileFeed } from './node/profiles.js';
import { PresenceUpkeep } from './node/upkeep.js';
import type { PresenceStore } from './presence/types.js';
import { createAdmission, type SocketData } from './session/admission.js';
import { createSession } from './session/commands.js';
import { createLifecycle } from './session/lifecycle.js';
import { createQuotas, startPruning } from './session/quotas.js';
import { startSweeper } from './session/sweep.js';
import { createTransport, type Routes } from './transport/server.js';
import type { Uws } from './transport/uws.js';
import type { UserDirectory } from './users/types.js';
import { Revocations } from './auth/revocations.js';
import type { Stores } from './stores.js';
import { WebhookDispatcher } from './events/webhooks.js';
import { ClusterControl } from './node/control.js';
import { ClusterQueries } from './node/queries.js';
import { NodeStats } from './node/stats.js';
import { StreamRelay } from './node/stream-relay.js';
import { createSteering } from './session/steer.js';
import type { ConnectionRecord } from './session/record.js';

/** The stores (stores.ts) plus what the node itself needs; tests pass memory twins or Redis stores alike. */
export interface GatewayParts extends Omit<Stores, 'onReconnect' | 'close'> {
  config: Readonly<Config>;
  log: Logger;
  uws: Uws;
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

/** Webhook delivery of the event stream, when WEBHOOK_URL is set; returns its stop. */
function startWebhooks(parts: GatewayParts, metrics: ReturnType<typeof createMetrics>): () => void {
  const hook = parts.config.webhook;
  if (!hook) return () => {};
  const dispatcher = new WebhookDispatcher({
    events: parts.events, url: hook.url, secret: hook.secret, types: hook.types && new Set(hook.types), batch: hook.batch,
    timeoutMs: hook.timeoutMs, log: parts.log.child({ component: 'webhooks' }), metrics,
  });
  dispatcher.start();
  return () => void dispatcher.stop();
}

export async function startGateway(parts: GatewayParts): Promise<Gateway> {
  const { config, log, broker, presence, users } = parts;
  const child = (component: string) => log.child({ component });
  const revocations = new Revocations(parts.revocations, config.auth.maxTtlS);
  await revocations.reload();
  const authenticate = createAuthenticate({
    verify: parts.verify ?? createVerifier(config.auth), users, auth: config.auth, revoked: (uid, iat) => revocations.revoked(uid, iat),
  });
  const metrics = createMetrics(config.nodeId);
  const transport = createTransport<SocketData>(parts.uws, {
    host: config.host, port: config.port, tls: config.tls, trustedProxies: config.trustedProxies, ...config.ws,
    nodeId: config.nodeId, allowedOrigins: config.allowedOrigins, onSlowConsumer: () => metrics.slowConsumers.inc(),
  }, child('transport'));
  const { fanout } = transport;
  const feed = new PresenceFeed(fanout, {
    batchMs: config.presence.batchMs, maxBatchMs: config.presence.maxBatchMs, log: child('presence-feed'),
    snapshot: () => presence.online(undefined, config.presence.welcomeOnlineLimit),
    listMax: config.presence.listMax, count: () => presence.onlineCount(),
  });
  const feeds = new HistoryFeeds({
    broker, fanout, log: child('history'), onFanOut: fanOutCounter(metrics, 'history'), onLost: (n) => metrics.historyGapsLost.inc(n),
  });
  const rooms = new RoomFeed(presence, fanout, config.presence.batchMs);
  // Profile frames: one per user per presence window, however fast the user edits.
  const profiles = new ProfileFeed(fanout, config.presence.batchMs);
  const hub = new Hub<ConnectionRecord>(broker, fanout, feeds, rooms, child('hub'), fanOutCounter(metrics, 'remote'));
  const writes = { pending: 0 };
  const upkeep = new PresenceUpkeep(presence, hub, feed, config.presence.leaseMs, child('presence'), metrics, Math.random, () => writes.pending);
  const markDirty = () => upkeep.markDirty();

  presence.onEvent((event) => feed.push(event));
  await presence.start();
  await feed.start();
  await upkeep.start();
  upkeep.afterResync(() => {
    rooms.resetViews();
    void feed.refreshCount().then(() => sendPresenceReset(presence, hub.all(), config.presence.welcomeOnlineLimit, log, feed.listed));
  });

  const { channels } = config;
  const historyOf = (action: string) => channels.rules(action).history;
  const publish = createPublisher({ fanout, broker, historyOf, maxFrameBytes: config.ws.maxPayloadBytes, onFanOut: fanOutCounter(metrics, 'local') });
  const access = createAccess({ verifyGrant: createGrantVerifier(config.auth), secret: config.channelsProxySecret, log: child('access') });
  const limits = { maxActions: config.ws.maxActions, onlinePage: Math.max(100, config.presence.welcomeOnlineLimit), ...config.limits };
  const quotas = createQuotas(limits);
  const session = createSession({
    authenticate, publish, feeds, channels, access, writes, metrics, hub, feed, presence, users, log: child('session'), markDirty, limits, quotas,
  });
  const admission = createAdmission({ config, authenticate, presence, listed: () => feed.listed, hub, log: child('admission'), markDirty });
  const lifecycle = createLifecycle({ config, admission, session, hub, feed, presence, metrics, log, markDirty });
  const readiness = () => [...(lifecycle.draining() ? ['draining'] : []), ...(broker.isReady() ? [] : ['cluster bus unreachable'])];
  const control = new ClusterControl({ hub, presence, nodeId: config.nodeId, log: child('control') });
  await control.start(createSteering({ hub, revocations, presence, profiles, access, log: child('steer'), markDirty, writes }));
  // The operator's page: every node's figures (broadcast every 2 s) and questions every node answers.
  const stats = new NodeStats({ hub, metrics, nodeId: config.nodeId, log: child('stats') });
  await stats.start();
  const queries = new ClusterQueries({ hub, presence, nodeId: config.nodeId, log: child('queries') });
  await queries.start();
  const { close: closeFeeds, ...routes } = await buildRoutes({
    config, authenticate, users, presence, broker, hub, publish, limits: parts.limits, metrics, log, readiness, draining: lifecycle.draining,
    control, revocations, streams: () => transport.streams(), operators: parts.operators, stats, queries, events: parts.events,
  });
  const background = [
    parts.inbox ? startInbox(parts.inbox, publish, child('inbox')) : () => {},
    startPresenceAudit(presence, { intervalMs: config.presence.auditIntervalMs, log: child('audit'), metrics }),
    startSweeper(() => hub.all(), { warningS: config.tokenExpiryWarningS, maxBackpressureBytes: config.ws.maxBackpressureBytes, metrics }),
    startWebhooks(parts, metrics),
    startPruning(quotas),
  ];
  // The HTTP fallback: frames POSTed to this node for a stream another node holds go there over the bus.
  const relay = new StreamRelay({ hub, nodeId: config.nodeId, log: child('streams'), deliver: (...args) => transport.deliverStream(...args) });
  await relay.start();
  const files = adminPage(parts.files, () => users.hasAdmins());
  const port = await transport.listen(lifecycle.handlers, { ...routes, files }, (...args) => relay.forward(...args));
  log.info({ port, host: config.host, tls: !!config.tls }, 'gateway listening');

  let stopping: Promise<void> | undefined;
  const stop = (code: number = CloseCodes.serviceRestart) => (stopping ??= (async () => {
    transport.stopListening();
    for (const stopTask of background) stopTask();
    stats.stop();
    closeFeeds();
    const closed = await lifecycle.drain(code);
    feed.close();
    rooms.close();
    profiles.close();
    await upkeep.retire();
    log.info({ closed }, 'gateway stopped');
  })());

  return {
    port, nodeId: config.nodeId, connections: () => hub.size, readiness, stop,
    reconnected: () => {
      upkeep.reconnected();
      revocations.reload().catch((err) => log.warn({ err }, 'revocations not reloaded after reconnect'));
    },
  };
}
