/**
 * The setup most spawned-gateway test files share: a real redis-server of their own, one key
 * prefix and one user directory file, and N gateway processes of the file's fixture on them
 * (a plain Redis server; a Redis Cluster is redis-cluster.ts). At module level:
 *
 *   const fx = gatewayFixture();
 *   let cluster: Cluster;
 *   beforeAll(async () => {
 *     cluster = await startCluster(fx, 'outage', { nodes: 2, env: { PRESENCE_GRACE_MS: '0' } });
 *   });
 *   afterAll(() => cluster?.stop());
 *
 * `nodes: 0` gives only the Redis server and the environment, for files that start their
 * gateways one at a time inside the tests: `fx.gateway({ ...cluster.env, NODE_ID: 'late' })`.
 */
import { SqliteUserDirectory } from '../../src/users/sqlite.js';
import type { NewUser } from '../../src/users/types.js';
import type { GatewayFixture } from './fixture.js';
import { tempDbPath, type GatewayProcess } from './gateway.js';
import { startRedis, type RedisServer } from './redis.js';
import { uniquePrefix } from './wait.js';

export interface ClusterOptions {
  /** How many gateways to start (NODE_IDs `<name>-a`, `<name>-b`, …), or the NODE_ID of each. */
  nodes: number | readonly string[];
  /** Environment of every node, on top of REDIS_URL, REDIS_PREFIX and DB_PATH (and of the fixture's own). */
  env?: Record<string, string>;
  /** Users put in the directory before any node starts; their ids are in `ids`, by username. */
  users?: readonly NewUser[];
}

export interface Cluster {
  redis: RedisServer;
  /** REDIS_PREFIX of the nodes: `uniquePrefix(name)`. */
  prefix: string;
  /** DB_PATH of the nodes: a fresh SQLite file, its schema already created. */
  db: string;
  /** REDIS_URL, REDIS_PREFIX, DB_PATH and the options' `env`; no NODE_ID. */
  env: Record<string, string>;
  /** The nodes started, in the order of their NODE_IDs. */
  nodes: GatewayProcess[];
  /** Id of each seeded user, by username. */
  ids: Record<string, string>;
  /** The fixture's teardown (clients, gateways, the token check), then the Redis server's stop. */
  stop(): Promise<void>;
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

export async function startCluster(fx: GatewayFixture, name: string, options: ClusterOptions): Promise<Cluster> {
  const nodeIds = typeof options.nodes === 'number'
    ? Array.from({ length: options.nodes }, (_, i) => `${name}-${LETTERS[i] ?? i}`)
    : [...options.nodes];
  const db = tempDbPath();
  // Opening the directory creates the schema, so the nodes can start together on the file
  // (first starts on one fresh file would each try to migrate it).
  const dir = new SqliteUserDirectory(db);
  const ids: Record<string, string> = {};
  try {
    for (const user of options.users ?? []) ids[user.username] = dir.add(user).id;
  } finally {
    dir.close();
  }
  const redis = await startRedis();
  const prefix = uniquePrefix(name);
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, DB_PATH: db, ...options.env };
  const started = await Promise.allSettled(nodeIds.map((NODE_ID) => fx.gateway({ ...env, NODE_ID })));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // No cluster for the caller to stop: stop what did start here, then report.
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.kill('SIGKILL') : undefined)));
    await redis.stop();
    throw failed.reason;
  }
  return {
    redis, prefix, db, env, ids,
    nodes: started.map((s) => (s as PromiseFulfilledResult<GatewayProcess>).value),
    async stop() {
      try {
        await fx.teardown();
      } finally {
        await redis.stop();
      }
    },
  };
}
