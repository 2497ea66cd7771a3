/**
 * Every HTTP route of a node in one table: health, readiness and who-am-I (account.ts),
 * sign-in and refresh (signin.ts), the backend publish API (publish.ts), profiles
 * (profiles.ts), the server API for backends (cluster.ts), the operator's page's API under
 * /admin/api/ (admin.ts, admin-auth.ts, admin-feed.ts) and metrics.
 *
 * `/metrics` answers callers on this host (the client address, as resolved through trusted
 * proxies, is loopback) or, with METRICS_TOKEN, anyone presenting it as a Bearer token; others
 * get 404, as if there were no such route.
 */
import type { Authenticate } from '../auth/sessions.js';
import type { Broker } from '../broker/types.js';
import type { Config } from '../config.js';
import type { SharedLimits } from '../limits/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Hub } from '../node/hub.js';
import type { Publish } from '../node/publisher.js';
import type { PresenceStore } from '../presence/types.js';
import type { Route, Routes } from '../transport/server.js';
import type { UserDirectory } from '../users/types.js';
import type { Revocations } from '../auth/revocations.js';
import type { ClusterControl } from '../node/control.js';
import type { EventLog } from '../events/types.js';
import type { ClusterQueries } from '../node/queries.js';
import type { NodeStats } from '../node/stats.js';
import type { OperatorSessionStore } from '../operators/types.js';
import { createAccount } from './account.js';
import { createAdminApi } from './admin.js';
import { createAdminAuth } from './admin-auth.js';
import { AdminFeed } from './admin-feed.js';
import { clusterOps, createClusterApi } from './cluster.js';
import { createProfiles } from './profiles.js';
import { createPublishRoute } from './publish.js';
import { bearer, fail, keyChecker } from './request.js';
import { createSignIn } from './signin.js';

export interface RouteDeps {
  config: Readonly<Config>;
  authenticate: Authenticate;
  users: UserDirectory;
  presence: PresenceStore;
  hub: Pick<Hub, 'size' | 'users'>;
  broker: Pick<Broker, 'isReady' | 'history'>;
  publish: Publish;
  limits: SharedLimits;
  metrics: Metrics;
  log: Logger;
  readiness: () => string[];
  /** Open HTTP streaming sessions (the fallback). */
  streams: () => number;
  draining: () => boolean;
  control: Pick<ClusterControl, 'run' | 'tell'>;
  revocations: Pick<Revocations, 'revoke'>;
  /** The operator's page: its sessions, every node's figures, questions to every node, the event stream. */
  operators: OperatorSessionStore;
  stats: NodeStats;
  queries: Pick<ClusterQueries, 'userActions'>;
  events: EventLog;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function metricsRoute(d: RouteDeps): Route {
  const token = d.config.metricsToken;
  const valid = token ? keyChecker([token]) : undefined;
  return async (req) => {
    const allowed = valid ? valid(bearer(req) ?? '') : LOOPBACK.test(req.ip);
    if (!allowed) return fail(404, 'not_found', 'no route GET /metrics');
    d.metrics.connections.set(d.hub.size);
    d.metrics.httpStreams.set(d.streams());
    d.metrics.usersOnline.set(d.hub.users());
    d.metrics.redisUp.set(d.broker.isReady() ? 1 : 0);
    d.metrics.draining.set(d.draining() ? 1 : 0);
    return { status: 200, body: await d.metrics.registry.metrics(), headers: { 'content-type': d.metrics.registry.contentType } };
  };
}

/** The routes; `close` ends the operator page's live feeds (the node stops). */
export async function buildRoutes(d: RouteDeps): Promise<Omit<Routes, 'files'> & { close(): void }> {
  const { config } = d;
  const account = createAccount({ authenticate: d.authenticate, users: d.users, presence: d.presence, readiness: d.readiness });
  const signIn = createSignIn({
    auth: config.auth, loginTtlS: config.loginTtlS, authenticate: d.authenticate, users: d.users, limits: d.limits,
    log: d.log.child({ component: 'signin' }),
  });
  const profiles = createProfiles({ users: d.users, control: d.control, authenticate: d.authenticate, avatarMaxBytes: config.avatarMaxBytes, limits: d.limits });
  const ops = clusterOps({ presence: d.presence, control: d.control, revocations: d.revocations });
  const server = createClusterApi(config.apiKeys, ops);
  const adminLog = d.log.child({ component: 'admin' });
  const auth = createAdminAuth({
    users: d.users, limits: d.limits, store: d.operators, log: adminLog, ttlS: config.admin.sessionTtlS, tls: Boolean(config.tls),
    allowedOrigins: config.allowedOrigins,
  });
  const feed = new AdminFeed({ auth, stats: d.stats, presence: d.presence, events: d.events, nodeId: config.nodeId, log: adminLog });
  const admin = createAdminApi({
    auth, feed, ops, users: d.users, presence: d.presence, stats: d.stats, queries: d.queries, broker: d.broker,
    historyOf: (action) => config.channels.rules(action).history, publish: d.publish, log: adminLog,
  });
  return {
    get: { ...account.get, ...profiles.get, ...server.get, ...admin.get, '/metrics': metricsRoute(d) },
    post: { ...signIn.post, ...server.post, ...admin.post, '/api/publish': createPublishRoute(config.apiKeys, d.publish) },
    put: profiles.put,
    patch: profiles.patch,
    streams: admin.streams,
    close: () => feed.close(),
  };
}
