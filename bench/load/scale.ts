/**
 * Scale, against our gateway only: as many concurrent idle connections (authenticated, one
 * action joined, `watch []`) as one gateway holds, up to the target. The gateway is started
 * through bash with `ulimit -n` raised as far as this machine allows; clients come from
 * several agent processes (each has its own fd budget) over 127.x.y.z source addresses.
 */
import { AgentPool } from './agents.js';
import { openIdle } from './memory.js';
import { fdLimit, rssBytes, sleep, type RedisServer } from './procs.js';
import { wallMs } from './stats.js';
import { startCluster } from './targets.js';

export interface ScaleResult {
  target: number;
  attempted: number;
  held: number;
  failed: number;
  firstError?: string;
  /** The gateway's open-files limit, and what capped the attempt when below the target. */
  fdLimit: number;
  cappedBy?: string;
  connectSeconds: number;
  rssMB: number;
  kbPerConn: number;
}

/** Open files an agent may use for clients: its own limit (inherited from us) less some slack. */
const PER_AGENT = 15_000;

export async function runScale(redis: RedisServer, target: number): Promise<ScaleResult> {
  const cluster = await startCluster('ours', redis, 1, { nofile: Math.max(200_000, target + 1000) });
  const node = cluster.nodes[0];
  const limit = fdLimit(node.pid);
  const attempted = Math.min(target, limit - 500);
  const pool = AgentPool.start(Math.max(1, Math.ceil(attempted / PER_AGENT)));
  try {
    await sleep(1000);
    const before = rssBytes(node.pid);
    const t0 = wallMs();
    const opened = await openIdle(pool, cluster, cluster.urls, attempted, 'scale', 'scale');
    const connectSeconds = (wallMs() - t0) / 1000;
    await sleep(5000);
    const held = (await pool.stats('scale')).open;
    const rss = rssBytes(node.pid);
    return {
      target, attempted, held, failed: opened.failed, firstError: opened.firstError, fdLimit: limit,
      cappedBy: attempted < target ? `gateway RLIMIT_NOFILE ${limit} (hard limit; ulimit -n ${target} refused here)` : undefined,
      connectSeconds, rssMB: rss / 2 ** 20, kbPerConn: (rss - before) / 1024 / Math.max(1, held),
    };
  } finally {
    await pool.stop();
    await cluster.stop();
  }
}
