/**
 * `npm run bench -- --cluster`: the same load (scale-loads.ts: churn, then many-action fan-out)
 * twice, on two gateway nodes each time: (A) on one redis-server, (B) on a three-primary Redis
 * Cluster (sharded pub/sub, REDIS_PREFIX '{gw}:', PRESENCE_PARTITIONS=12). Before the gateways
 * start, each backend also carries a bare ioredis pub/sub load on the same channels at the
 * headline rate (bare-pubsub.ts): the Redis side of the fan-out with no gateway. Reports each Redis
 * process's CPU for each load, what share of the single Redis's CPU each primary carried, and
 * its channels and keys (cluster-report.ts); shares are also given net of each process's idle
 * background, measured first with the gateways up and no load. Churn runs first so the offline transitions of the
 * fan-out clients (after the grace window) cannot land in the churn's CPU window.
 * A watchdog prints what was measured and exits if the run overstays.
 */
import { runBarePubsub, type BareTarget } from './bare-pubsub.js';
import { startRedis, type RedisServer } from './procs.js';
import { formatScale, type BackendRun, type ScaleResults } from './cluster-report.js';
import { nodeClient, startRedisCluster, type BenchRedisCluster } from './redis-cluster.js';
import type { RedisProc } from './redis-probe.js';
import { fanoutActions, idleRates, runChurn, runScaleFanout, SCALE_SPEC, type ChannelName, type ScaleSpec } from './scale-loads.js';
import { LISTED_FEED, startCluster, type Cluster } from './targets.js';

const WATCHDOG_MS = 6 * 60_000;
/** The idle window: each Redis process's background CPU (serverCron, a cluster node's bus, the gateways' upkeep). */
const IDLE_MS = 5000;
/** The bare reference's idle window (its clients connected, no gateways). */
const BARE_IDLE_MS = 3000;

/** Where a run's gateways point, how to read each Redis process, and how channels are named there. */
interface Backend {
  label: string;
  procs: RedisProc[];
  sharded: boolean;
  /** Where the bare reference's clients connect. */
  bare: BareTarget;
  gateways(): Promise<Cluster>;
  /** An action's channel under the prefix the gateways are given. */
  channel: ChannelName;
  stop(): Promise<void>;
}

async function singleBackend(): Promise<Backend> {
  const redis = await startRedis();
  return {
    label: 'one redis-server',
    procs: [{ label: `redis :${redis.port}`, client: redis.client() }],
    sharded: false,
    bare: { port: redis.port },
    gateways: () => startCluster('ours', redis, 2, { prefix: 'gw:', env: LISTED_FEED }),
    channel: (action) => `gw:action:${action}`,
    stop: () => redis.stop(),
  };
}

/**
 * startCluster builds the gateways' REDIS_URL from a RedisServer; in cluster mode that URL is
 * blank (the gateway's config drops empty variables) and REDIS_CLUSTER_NODES takes its place.
 * This stand-in gives startCluster the blank URL; nothing else of it is used.
 */
function clusterStandIn(cluster: BenchRedisCluster): RedisServer {
  const port = cluster.ports[0];
  return {
    port, url: '',
    start: () => Promise.reject(new Error('the cluster stand-in cannot be restarted')),
    stop: () => cluster.stop(),
    client: () => nodeClient(port),
  };
}

async function clusterBackend(): Promise<Backend> {
  const cluster = await startRedisCluster();
  const env = { ...LISTED_FEED, REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes, PRESENCE_PARTITIONS: '12' };
  return {
    label: 'Redis Cluster, 3 primaries',
    procs: cluster.clients.map((client, i) => ({ label: `primary ${i + 1} :${cluster.ports[i]}`, client })),
    sharded: true,
    bare: { nodes: cluster.ports.map((port) => ({ host: '127.0.0.1', port })) },
    gateways: () => startCluster('ours', clusterStandIn(cluster), 2, { prefix: '{gw}:', env }),
    // The sharded broker's action prefix is REDIS_PREFIX without braces: gw:action:{<action>}.
    channel: (action) => `gw:action:{${action}}`,
    stop: () => cluster.stop(),
  };
}

/** Both loads on fresh gateways over `backend`; a failed load is recorded and the run goes on. */
async function runOn(backend: Backend, spec: ScaleSpec, errors: string[], log: (m: string) => void): Promise<BackendRun> {
  const run: BackendRun = { label: backend.label, procs: backend.procs.map((p) => p.label) };
  log(`${backend.label}: bare ioredis pub/sub, ${spec.headlineRate} msg/s for ${spec.seconds} s, no gateway`);
  const channels = fanoutActions(spec).map(backend.channel);
  run.bare = await runBarePubsub(backend.bare, backend.procs, { channels, rate: spec.headlineRate, seconds: spec.seconds, bytes: spec.bytes, idleMs: BARE_IDLE_MS })
    .catch((err: Error) => void errors.push(`${backend.label}, bare pub/sub: ${err.message}`));
  const gw = await backend.gateways();
  try {
    run.idle = await idleRates(backend.procs, IDLE_MS);
    log(`${backend.label}: churn, ${spec.churnUsers} users in ${spec.waves} waves`);
    run.churn = await runChurn(gw, backend.procs, spec).catch((err: Error) => void errors.push(`${backend.label}, churn: ${err.message}`));
    log(`${backend.label}: fan-out, ${spec.actions} actions x ${spec.subscribersPerAction} subscribers, ${spec.rates.join(', ')} msg/s for ${spec.seconds} s each`);
    run.fanout = await runScaleFanout(gw, backend.procs, backend.channel, backend.sharded, spec)
      .catch((err: Error) => void errors.push(`${backend.label}, fan-out: ${err.message}`));
  } finally {
    await gw.stop();
  }
  return run;
}

async function measure(results: ScaleResults, start: () => Promise<Backend>, log: (m: string) => void): Promise<void> {
  let backend: Backend | undefined;
  try {
    backend = await start();
    results.runs.push(await runOn(backend, results.spec, results.errors, log));
  } catch (err) {
    results.errors.push(`${backend?.label ?? 'backend start'}: ${(err as Error).message.split('\n').slice(0, 4).join(' | ')}`);
  } finally {
    await backend?.stop();
  }
}

/** The whole `--cluster` phase; prints the table and sets the exit code (1 on an error or the watchdog). */
export async function runClusterScale(log: (m: string) => void, header: string): Promise<void> {
  const started = Date.now();
  const results: ScaleResults = { spec: SCALE_SPEC, runs: [], errors: [] };
  const print = () => process.stdout.write(`${header}\n\n${formatScale(results)}\n\ntotal time: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  const watchdog = setTimeout(() => {
    results.errors.push(`watchdog: run exceeded ${WATCHDOG_MS / 60_000} min and was cut short`);
    print();
    process.exit(1); // procs.ts and the Redis harness kill every child they started on exit
  }, WATCHDOG_MS);
  try {
    await measure(results, singleBackend, log);
    await measure(results, clusterBackend, log);
  } finally {
    clearTimeout(watchdog);
  }
  print();
  process.exitCode = results.errors.length > 0 ? 1 : 0;
}
