/**
 * The connect path against the bare relay, in the same run: N clients connect to two nodes,
 * each joins one action and waits for the ack, 25 in flight per agent (tokens are signed
 * before the clock starts). Ours runs with the default presence feed ('*': it counts instead of
 * listing past PRESENCE_LIST_MAX users online), with clients that send `watch []` first, and
 * (ours-listed) with a limit no storm reaches, so every change is listed to every client, as
 * before the limit existed; each run gets fresh nodes. Reported: time until every client is
 * joined, the nodes' CPU per connection, presence frames per client, and first attempts that
 * failed (an abrupt close before the ack is one: a client a real page would have to retry).
 */
import { AgentPool } from './agents.js';
import { cpuMicros, type RedisServer } from './procs.js';
import { wallMs } from './stats.js';
import { BENCH_SECRET, LISTED_FEED, startCluster } from './targets.js';

export type JoinStormVariant = 'ours' | 'ours-watch-none' | 'ours-listed' | 'uws';

export interface JoinStormResult {
  clients: number;
  joinedMs: number;
  /** Both nodes' CPU (user + system) per connection, ms. */
  nodeCpuMsPerConn: number;
  /** Presence frames (changes, resets, counts) a client received, on average, until all joined. */
  presenceFramesPerClient: number;
  /** First attempts that failed and were retried, and why the first one failed. */
  retried: number;
  firstRetryReason?: string;
  failed: number;
}

export async function runJoinStorm(redis: RedisServer, variant: JoinStormVariant, n: number, agents: number): Promise<JoinStormResult> {
  const kind = variant === 'uws' ? 'uws' : 'ours';
  const env = variant === 'ours-listed' ? LISTED_FEED : undefined;
  const cluster = await startCluster(kind, redis, 2, { nofile: n + 2000, env });
  const pool = AgentPool.start(agents);
  try {
    const cpu = () => cluster.nodes.reduce((sum, node) => sum + cpuMicros(node.pid), 0);
    const startAt = wallMs() + 1000 + n / 4; // signing n tokens fits before
    let before = 0;
    const startCpu = setTimeout(() => { before = cpu(); }, Math.max(0, startAt - wallMs()));
    const r = await pool.open(n, (count, firstIndex) => ({
      cmd: 'open', group: 'storm', role: 'idle', kind, urls: cluster.urls, count, firstIndex, userPrefix: `js${Date.now() % 100_000}_`,
      join: 'storm', watchNone: variant === 'ours-watch-none', secret: BENCH_SECRET, concurrency: 25, timeoutMs: 60_000, startAt,
    }));
    const joinedMs = wallMs() - startAt;
    clearTimeout(startCpu);
    const { presenceFrames } = await pool.stats('storm');
    return {
      clients: n, joinedMs, nodeCpuMsPerConn: (cpu() - before) / 1000 / Math.max(1, r.open), presenceFramesPerClient: presenceFrames / Math.max(1, r.open),
      retried: r.retried, firstRetryReason: r.firstRetryReason, failed: r.failed,
    };
  } finally {
    await pool.stop();
    await cluster.stop();
  }
}
