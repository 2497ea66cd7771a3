/**
 * Storms, against our gateway only (the peers have no auth or presence):
 * - connection storm: N clients with valid JWTs connect to node 1 at once; how fast they are
 *   all welcomed, all in `online_users`, and all seen `online` by a watcher on node 2;
 * - presence storm: N connected users all reconnect (to the other node) within ~1 s; what
 *   watchers on both nodes receive and when their views are right again.
 * Storm clients send `watch []` after their welcome: only the watchers take the feed.
 */
import type { Redis } from 'ioredis';
import { AgentPool, type GroupStats } from './agents.js';
import type { Command, OpenCommand } from './agent.js';
import { until } from './procs.js';
import { wallMs } from './stats.js';
import { BENCH_SECRET, type Cluster } from './targets.js';

export interface ConnectionStormResult {
  clients: number;
  failed: number;
  connectionsPerS: number;
  allWelcomedMs: number;
  allInOnlineSetMs: number;
  watcherSawAllMs: number;
}

export interface PresenceStormResult {
  /** The gateway setting the storm ran under, e.g. 'default grace' or 'PRESENCE_GRACE_MS=0'. */
  label: string;
  users: number;
  watchers: number;
  failed: number;
  firstError?: string;
  reconnectedMs: number;
  framesPerWatcher: number;
  changesPerWatcher: number;
  convergedMs: number;
}

type OpenSpec = Partial<OpenCommand> & Pick<OpenCommand, 'group' | 'urls' | 'count' | 'firstIndex' | 'userPrefix'>;

function openCmd(o: OpenSpec): Command {
  return { cmd: 'open', role: 'idle', kind: 'ours', watchNone: true, secret: BENCH_SECRET, concurrency: 250, timeoutMs: 60_000, ...o };
}

/** `total` watchers spread over `urls`, each tracking the presence of `track.count` users named `track.prefix*`. */
async function watchers(pool: AgentPool, urls: string[], total: number, track: { prefix: string; count: number }): Promise<void> {
  const r = await pool.open(total, (count, firstIndex) =>
    openCmd({ group: 'watch', role: 'watch', urls, count, firstIndex, userPrefix: `w${track.prefix}`, watchNone: false, track }));
  if (r.failed > 0) throw new Error(`watchers failed to connect: ${r.firstError}`);
}

/** The watchers' stats once every view holds exactly `expected` tracked users online and has been quiet for `quietMs`. */
async function converged(pool: AgentPool, expected: number, quietMs: number, timeoutMs: number): Promise<GroupStats> {
  let stats: GroupStats | undefined;
  try {
    await until(`watchers to see ${expected} users online`, async () => {
      stats = await pool.stats('watch');
      const last = Math.max(...stats.views.map((v) => v.lastChangeAt));
      return stats.views.every((v) => v.online === expected) && wallMs() - last > quietMs;
    }, timeoutMs, 50);
  } catch (err) {
    // Say how far each view got: the difference between a slow feed and a wrong one.
    throw new Error(`${(err as Error).message}; views hold ${stats?.views.map((v) => v.online).join(', ')}`);
  }
  return stats!;
}

export async function runConnectionStorm(cluster: Cluster, redis: Redis, n: number, agents: number): Promise<ConnectionStormResult> {
  const watch = AgentPool.start(1);
  const storm = AgentPool.start(agents);
  const prefix = `cs${Date.now() % 100000}_`;
  try {
    await watchers(watch, [cluster.urls[1] ?? cluster.urls[0]], 1, { prefix, count: n });
    const before = await redis.scard(`${cluster.prefix}online_users`);
    const startAt = wallMs() + 1500;
    let inSetAt = 0;
    let target = before + n; // lowered to what was admitted once the storm is over
    const poll = (async () => {
      await until('online_users to hold every storm user', async () => (await redis.scard(`${cluster.prefix}online_users`)) >= target, 60_000, 10);
      inSetAt = wallMs();
    })();
    const opened = await storm.open(n, (count, firstIndex) =>
      openCmd({ group: 'storm', urls: [cluster.urls[0]], count, firstIndex, userPrefix: prefix, concurrency: count, startAt }));
    target = before + opened.open;
    await poll;
    const seen = await converged(watch, opened.open, 0, 60_000);
    const allWelcomedMs = opened.lastWelcome - startAt;
    return {
      clients: n, failed: opened.failed, allWelcomedMs,
      connectionsPerS: opened.open / (allWelcomedMs / 1000),
      allInOnlineSetMs: inSetAt - startAt,
      watcherSawAllMs: Math.max(...seen.views.map((v) => v.lastChangeAt)) - startAt,
    };
  } finally {
    await Promise.all([watch.stop(), storm.stop()]);
  }
}

export async function runPresenceStorm(cluster: Cluster, label: string, n: number, agents: number, watchersPerNode = 2): Promise<PresenceStormResult> {
  const watch = AgentPool.start(1);
  const users = AgentPool.start(agents);
  const prefix = `ps${Date.now() % 100000}_`;
  try {
    await watchers(watch, cluster.urls, watchersPerNode * cluster.urls.length, { prefix, count: n });
    const opened = await users.open(n, (count, firstIndex) => openCmd({ group: 'users', urls: cluster.urls, count, firstIndex, userPrefix: prefix }));
    if (opened.failed > 0) throw new Error(`${opened.failed} users failed to connect: ${opened.firstError}`);
    const before = await converged(watch, opened.open, 300, 60_000);
    const t0 = wallMs();
    const storms = await Promise.all(users.agents.map((a) =>
      a.call<{ failed: number; firstError?: string; lastWelcome: number }>({ cmd: 'reconnect', group: 'users', windowMs: 1000, timeoutMs: 60_000 })));
    // Users whose reconnect failed are offline now: the views must say so too.
    const back = (await users.stats('users')).open;
    const after = await converged(watch, back, 500, 60_000);
    const delta = after.views.map((v, i) => ({ frames: v.frames - before.views[i].frames, changes: v.changes - before.views[i].changes }));
    const avg = (f: (d: { frames: number; changes: number }) => number) => delta.reduce((s, d) => s + f(d), 0) / delta.length;
    return {
      label, users: n, watchers: after.views.length, failed: storms.reduce((s, r) => s + r.failed, 0), firstError: storms.find((r) => r.firstError)?.firstError,
      reconnectedMs: Math.max(...storms.map((r) => r.lastWelcome)) - t0,
      framesPerWatcher: avg((d) => d.frames),
      changesPerWatcher: avg((d) => d.changes),
      // 0 when no watcher saw any change: the storm never made a view wrong.
      convergedMs: Math.max(0, ...after.views.map((v) => v.lastChangeAt - t0)),
    };
  } finally {
    await Promise.all([watch.stop(), users.stop()]);
  }
}
