/**
 * `npm run bench [-- --quick] [-- --profile] [-- --only=ours,uws]`: our gateway against three
 * peers (Socket.IO + redis-adapter, a bare uWebSockets.js relay, ws + ioredis), all in this
 * run on this machine, over loopback, on one private redis-server. Prints one table, the
 * PASS/MISS line of every target, and warnings (generator or machine saturated). The client
 * package's browser bundle is measured beside the peers' clients first (load/bundles.ts, seconds),
 * then the HTTP streaming fallback beside the WebSocket on our gateway (load/fallback.ts, ~90 s; ~45 s quick).
 * Every load loop is bounded in count and time; a watchdog ends a run that overstays.
 * `npm run bench -- --cluster` runs only the Redis scaling phase instead (load/cluster-scale.ts).
 * Every run (but --cluster) keeps its numbers in bench/results.json and draws its charts from them
 * into bench/charts/ (load/charts.ts); `npm run bench:charts` redraws them from the saved file.
 */
import { cpus, totalmem } from 'node:os';
import { formatBundles, measureBundles } from './load/bundles.js';
import { FALLBACK_FULL, FALLBACK_QUICK, formatFallback, runFallback } from './load/fallback.js';
import { saveRun, writeCharts } from './load/charts.js';
import { medianOf, runFanout, type FanoutResult, type FanoutSpec } from './load/fanout.js';
import { runJoinStorm, type JoinStormVariant } from './load/join-storm.js';
import { formatJitter, JITTER_FULL, JITTER_QUICK, runJitter, type JitterSpec } from './load/jitter.js';
import { runMemory } from './load/memory.js';
import { runClusterScale } from './load/cluster-scale.js';
import { busyFraction, machineTicks, sleep, startRedis, type RedisServer } from './load/procs.js';
import { formatProfile, profileFanout } from './load/profile.js';
import { KINDS, notes, scenarioName, table, verdicts, type RunResults } from './load/report.js';
import { runScale } from './load/scale.js';
import { markOnline, runHttp, searchPaths, seedUsers } from './load/search.js';
import { runConnectionStorm, runPresenceStorm } from './load/storm.js';
import { benchToken, LISTED_FEED, startCluster, type Cluster } from './load/targets.js';
import { LABELS, type ServerKind } from './load/wire.js';

interface Plan {
  quick: boolean;
  profile: boolean;
  kinds: ServerKind[];
  fanout: FanoutSpec[];
  /** Idle connections on one node: the first size, and the second for the marginal cost. */
  memoryConnections: [number, number];
  stormClients: number;
  /** Sizes of the join storm next to the relay. */
  joinStorms: number[];
  /** The default-feed join storm again and again on fresh nodes, counting abrupt closes. */
  repeatStorms: { rounds: number; clients: number };
  presenceUsers: number;
  watchersPerNode: number;
  searchUsers: number;
  httpSeconds: number;
  scaleTarget?: number;
  jitter: JitterSpec;
  watchdogMs: number;
}

const AGENTS = 2;

function plan(argv: string[]): Plan {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='))?.slice(7).split(',') as ServerKind[] | undefined;
  const spec = (subscribers: number, rate: number, bytes: number, seconds: number, rounds = 1): FanoutSpec =>
    ({ subscribers, rate, bytes, durationMs: seconds * 1000, agents: AGENTS, rounds });
  const common = { quick, profile: argv.includes('--profile'), kinds: only ?? KINDS };
  if (quick) {
    return {
      ...common, fanout: [spec(1000, 50, 256, 3)], memoryConnections: [1000, 2000], stormClients: 500, joinStorms: [500], repeatStorms: { rounds: 3, clients: 500 }, presenceUsers: 500,
      watchersPerNode: 1, searchUsers: 10_000, httpSeconds: 2, jitter: JITTER_QUICK, watchdogMs: 5 * 60_000,
    };
  }
  return {
    ...common, fanout: [spec(1000, 50, 256, 8, 3), spec(1000, 200, 256, 8, 3), spec(5000, 10, 1024, 8, 3)],
    memoryConnections: [5000, 15_000], stormClients: 5000, joinStorms: [4000, 10_000], repeatStorms: { rounds: 10, clients: 4000 }, presenceUsers: 5000, watchersPerNode: 2,
    searchUsers: 100_000, httpSeconds: 10, scaleTarget: 50_000, jitter: JITTER_FULL, watchdogMs: 27 * 60_000,
  };
}

const started = Date.now();
const log = (msg: string) => process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

/** Run one phase; a failure is recorded and the run goes on. */
async function phase(results: RunResults, name: string, fn: () => Promise<void>): Promise<void> {
  log(name);
  try {
    await fn();
  } catch (err) {
    results.errors.push(`${name} failed: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
    log(`${name} FAILED: ${(err as Error).message}`);
  }
}

/**
 * Two nodes of every server kind, all up at once (idle ones cost ~1% CPU): memory per idle
 * connection on each, then every fan-out scenario with its runs interleaved across the kinds
 * (A B C D A B C D ...), so a burst of outside load does not land on one server only.
 */
async function comparisonPhases(redis: RedisServer, p: Plan, results: RunResults): Promise<void> {
  const clusters = new Map<ServerKind, Cluster>();
  try {
    for (const kind of p.kinds) {
      await phase(results, `${LABELS[kind]}: two nodes`, async () => {
        clusters.set(kind, await startCluster(kind, redis, 2, { nofile: p.memoryConnections[1] + 2000 }));
      });
    }
    for (const [kind, cluster] of clusters) {
      await phase(results, `${LABELS[kind]}: memory, ${p.memoryConnections.join(' then ')} idle connections`, async () => {
        results.memory[kind] = await runMemory(cluster, p.memoryConnections, AGENTS);
      });
    }
    for (const [i, spec] of p.fanout.entries()) {
      const runs = new Map<ServerKind, FanoutResult[]>();
      for (let round = 1; round <= spec.rounds; round += 1) {
        for (const [kind, cluster] of clusters) {
          await phase(results, `${LABELS[kind]}: fan-out ${scenarioName(spec)}, run ${round}/${spec.rounds}`, async () => {
            runs.set(kind, [...(runs.get(kind) ?? []), await runFanout(cluster, spec)]);
          });
          await sleep(500);
        }
      }
      for (const [kind, list] of runs) results.fanout[i].by[kind] = medianOf(list);
    }
  } finally {
    await Promise.all([...clusters.values()].map((c) => c.stop()));
  }
}

/** The connect path next to the relay's: ours with the default feed, with `watch []`, with every change listed; the relay. */
async function joinStormPhases(redis: RedisServer, p: Plan, results: RunResults): Promise<void> {
  for (const n of p.joinStorms) {
    const entry: RunResults['joinStorms'][number] = { n, by: {} };
    results.joinStorms.push(entry);
    // The listed feed costs N² bytes: measured where it still finishes in seconds.
    const variants: JoinStormVariant[] = ['uws', 'ours', 'ours-watch-none', ...(n <= 4000 ? ['ours-listed' as const] : [])];
    for (const variant of variants) {
      await phase(results, `${variant}: join storm, ${n} clients`, async () => {
        entry.by[variant] = await runJoinStorm(redis, variant, n, AGENTS);
      });
    }
  }
}

/** Storm after storm on fresh nodes: an abrupt close in any round is counted (the client's retry is not a pass). */
async function repeatedStormPhases(redis: RedisServer, p: Plan, results: RunResults): Promise<void> {
  const { rounds, clients } = p.repeatStorms;
  const x = { rounds, clients, joinedMs: [] as number[], retried: 0, failed: 0, reasons: [] as string[] };
  results.repeatedStorms = x;
  for (let round = 1; round <= rounds; round += 1) {
    await phase(results, `ours: join storm ${clients} clients, round ${round}/${rounds}`, async () => {
      const r = await runJoinStorm(redis, 'ours', clients, AGENTS);
      x.joinedMs.push(r.joinedMs);
      x.retried += r.retried;
      x.failed += r.failed;
      if (r.firstRetryReason) x.reasons.push(r.firstRetryReason);
    });
  }
}

/**
 * The storms' watchers follow every tracked user through the `*` feed, so these nodes keep it
 * listing (LISTED_FEED): the feed's batching and churn resets are what is measured; past the
 * default limit the feed sends counts, see the join storm.
 */
async function oursOnlyPhases(redis: RedisServer, p: Plan, results: RunResults): Promise<void> {
  const client = redis.client();
  const storms = await startCluster('ours', redis, 2, { env: LISTED_FEED });
  try {
    await phase(results, `ours: connection storm, ${p.stormClients} clients`, async () => {
      results.connectionStorms.push({ label: 'event stream on', ...(await runConnectionStorm(storms, client, p.stormClients, AGENTS)) });
    });
    await phase(results, `ours: presence storm, ${p.presenceUsers} users, default grace`, async () => {
      results.presenceStorms.push(await runPresenceStorm(storms, 'default grace', p.presenceUsers, AGENTS, p.watchersPerNode));
    });
  } finally {
    await storms.stop();
  }
  // The same storm without the event stream: what its XADD per connect costs the connect path.
  const noEvents = await startCluster('ours', redis, 2, { env: { ...LISTED_FEED, EVENTS_MAXLEN: '0' } });
  try {
    await phase(results, `ours: connection storm, ${p.stormClients} clients, EVENTS_MAXLEN=0`, async () => {
      results.connectionStorms.push({ label: 'EVENTS_MAXLEN=0', ...(await runConnectionStorm(noEvents, client, p.stormClients, AGENTS)) });
    });
  } finally {
    await noEvents.stop();
  }
  // Without the grace window every reconnect is an offline and an online change: the feed's batching under load.
  const flapping = await startCluster('ours', redis, 2, { env: { ...LISTED_FEED, PRESENCE_GRACE_MS: '0' } });
  try {
    await phase(results, `ours: presence storm, ${p.presenceUsers} users, PRESENCE_GRACE_MS=0`, async () => {
      results.presenceStorms.push(await runPresenceStorm(flapping, 'PRESENCE_GRACE_MS=0', p.presenceUsers, AGENTS, p.watchersPerNode));
    });
  } finally {
    await flapping.stop();
  }
  for (const mode of ['exact', 'plain'] as const) {
    await phase(results, `ours: recovery under jitter, ${p.jitter.clients} clients, ${mode} rejoins`, async () => {
      results.jitter.push(await runJitter(redis, p.jitter, mode));
    });
  }
  await phase(results, `ours: HTTP search over ${p.searchUsers} users, and /healthz`, async () => {
    const { dbPath, ids } = seedUsers(p.searchUsers);
    const http = await startCluster('ours', redis, 1, { dbPath });
    try {
      await markOnline(client, http.prefix, ids, 10);
      const token = await benchToken(ids[0]);
      results.http.push(await runHttp(http.http[0], searchPaths(), token, p.httpSeconds));
      results.http.push(await runHttp(http.http[0], ['/healthz'], undefined, p.httpSeconds));
    } finally {
      await http.stop();
    }
  });
}

function header(p: Plan, idleBusy: number, title = p.quick ? 'quick smoke run' : 'full run'): string {
  const cpu = cpus();
  return [
    `# realtime-gateway benchmark (${title})`,
    `date: ${new Date().toISOString()}`,
    `machine: ${cpu.length} cores (${cpu[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`,
    `command: npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    `machine busy before start: ${(100 * idleBusy).toFixed(0)}% of all cores${idleBusy > 0.15 ? ' (OTHER LOAD PRESENT: figures are noisier)' : ''}`,
  ].join('\n');
}

function print(p: Plan, idleBusy: number, r: RunResults, profile?: string): void {
  const lines = [header(p, idleBusy), '', 'Ratios are ours ÷ peer: below 1.00x is better for latency, CPU and memory; msgs/s should be 1.00x.', '', table(r)];
  if (r.jitter.length > 0) lines.push('', formatJitter(r.jitter));
  if (r.bundles) lines.push('', formatBundles(r.bundles));
  if (r.fallback) lines.push('', formatFallback(r.fallback));
  lines.push('', 'Targets:', ...verdicts(r).map((v) => `  ${v.line}`));
  const warn = notes(r);
  if (warn.length > 0) lines.push('', 'Warnings:', ...warn.map((w) => `  - ${w}`));
  if (profile) lines.push('', 'CPU profile of our two nodes during fan-out (self time):', profile);
  lines.push('', `total time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** The run's numbers to bench/results.json and its charts to bench/charts/; a failure here is reported, the table stands. */
function saveAndChart(p: Plan, results: RunResults): void {
  const cpu = cpus();
  const machine = `${cpu.length} cores (${cpu[0]?.model.trim()}), Node ${process.version}`;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const run = { meta: { date: new Date().toISOString(), quick: p.quick, command, machine }, results };
  try {
    saveRun(run);
    log(`numbers in bench/results.json; charts: ${writeCharts(run).map((f) => f.slice(f.lastIndexOf('/') + 1)).join(', ')} in bench/charts/`);
  } catch (err) {
    log(`results or charts not written: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}

async function main(): Promise<void> {
  const p = plan(process.argv.slice(2));
  const results: RunResults = { fanout: p.fanout.map((spec) => ({ spec, by: {} })), memory: {}, connectionStorms: [], joinStorms: [], presenceStorms: [], http: [], jitter: [], errors: [] };
  const m0 = machineTicks();
  await sleep(1000);
  const idleBusy = busyFraction(m0, machineTicks());
  if (process.argv.includes('--cluster')) return runClusterScale(log, header(p, idleBusy, 'Redis scaling: one Redis vs a three-primary cluster'));
  const watchdog = setTimeout(() => {
    results.errors.push(`watchdog: run exceeded ${p.watchdogMs / 60_000} min and was cut short`);
    print(p, idleBusy, results);
    process.exit(1);
  }, p.watchdogMs);
  const redis = await startRedis();
  let profile: string | undefined;
  try {
    await phase(results, 'client bundles: ours, socket.io-client, pusher-js, ably (esbuild, min+gzip)', async () => {
      results.bundles = await measureBundles();
    });
    if (p.kinds.includes('ours')) {
      await phase(results, 'ours: HTTP streaming fallback beside the WebSocket (CPU per message, memory per connection, time to fall back)', async () => {
        results.fallback = await runFallback(redis, p.quick ? FALLBACK_QUICK : FALLBACK_FULL, log);
      });
    }
    await comparisonPhases(redis, p, results);
    if (p.kinds.includes('ours') && p.kinds.includes('uws')) await joinStormPhases(redis, p, results);
    if (p.kinds.includes('ours')) await repeatedStormPhases(redis, p, results);
    if (p.kinds.includes('ours')) await oursOnlyPhases(redis, p, results);
    if (p.scaleTarget && p.kinds.includes('ours')) {
      await phase(results, `ours: scale to ${p.scaleTarget} connections`, async () => {
        results.scale = await runScale(redis, p.scaleTarget!);
      });
    } else results.scaleSkipped = p.quick ? 'skipped in --quick' : 'ours not in --only';
    if (p.profile) {
      await phase(results, 'ours: fan-out under --cpu-prof', async () => {
        profile = formatProfile(await profileFanout(redis, p.fanout[0]));
      });
    }
  } finally {
    await redis.stop();
    clearTimeout(watchdog);
  }
  print(p, idleBusy, results, profile);
  process.exitCode = results.errors.length > 0 ? 1 : 0;
  saveAndChart(p, results);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
