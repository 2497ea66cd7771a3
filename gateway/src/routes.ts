/**
 * Every HTTP route of a node in one table: health, readiness, metrics, search, login and
 * refresh (api.ts), the backend publish API, and profiles.
 */
import { createApi } from './api.js';
import type { Verifier } from './auth/tokens.js';
import type { Broker } from './broker/types.js';
import type { Config } from './config.js';
import type { LocalFanout } from './connection.js';
import type { Hub } from './hub.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { PresenceStore } from './presence/types.js';
import { createProfiles } from './profile.js';
import { createPublishRoute } from './publish-api.js';
import type { Publish } from './publisher.js';
import type { Routes } from './transport/server.js';
import type { UserDirectory } from './users/types.js';

export interface RouteDeps {
  config: Readonly<Config>;
  verify: Verifier;
  users: UserDirectory;
  presence: PresenceStore;
  broker: Broker;
  hub: Hub;
  fanout: LocalFanout;
  publish: Publish;
  metrics: Metrics;
  log: Logger;
  readiness: () => string[];
  draining: () => boolean;
}

export async function buildRoutes(d: RouteDeps): Promise<Omit<Routes, 'files'>> {
  const { config } = d;
  const api = createApi({
    auth: config.auth, loginTtlS: config.loginTtlS, verify: d.verify, users: d.users, presence: d.presence,
    readiness: d.readiness, log: d.log.child({ component: 'api' }),
  });
  const profiles = await createProfiles({
    users: d.users, hub: d.hub, fanout: d.fanout, broker: d.broker, verify: d.verify, avatarMaxBytes: config.avatarMaxBytes,
  });
  const metrics = async () => {
    d.metrics.connections.set(d.hub.size);
    d.metrics.usersOnline.set(d.hub.users());
    d.metrics.redisUp.set(d.broker.isReady() ? 1 : 0);
    d.metrics.draining.set(d.draining() ? 1 : 0);
    return { status: 200, body: await d.metrics.registry.metrics(), headers: { 'content-type': d.metrics.registry.contentType } };
  };
  return {
    get: { ...api.get, ...profiles.get, '/metrics': metrics },
    post: { ...api.post, '/api/publish': createPublishRoute(config.apiKeys, d.publish) },
    put: profiles.put,
    patch: profiles.patch,
  };
}
