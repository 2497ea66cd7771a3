/**
 * The two loads of the Redis scaling benchmark (cluster-scale.ts), run by the load agents
 * (agent.ts) against two gateway nodes, each bounded in count and time:
 * - many-action fan-out: A actions, S subscribers each spread over both nodes, two publishers
 *   per action (one per node) sending R msgs/s in total for T seconds, at each rate of a list
 *   (the same clients throughout); every subscriber must get every message of its action (the
 *   publishers' own copies are not counted);
 * - connect/disconnect churn: U distinct users connect in W waves and disconnect again, each
 *   wave awaited (with a deadline) until a watcher on each node sees it online, then offline.
 *   Each user is one online and one offline change; the watchers' views prove both happened
 *   (their frame counts do not: a busy window goes out as one presence_reset, by design).
 * Each step samples every Redis process's CPU right before and right after it, and the wall
 * time between, so the caller can take the idle background (idleRates) out.
 */
import { AgentPool, type Agent } from './agents.js';
import type { OpenCommand } from './agent.js';
import { pool } from './client.js';
import { busyFraction, machineTicks, sleep, until } from './procs.js';
import { cpuDelta, keyCount, sampleCpu, subscribedChannels, type CpuSample, type RedisProc } from './redis-probe.js';
import { Histogram, wallMs, type HistogramData } from './stats.js';
import { BENCH_SECRET, type Cluster } from './targets.js';

export interface ScaleSpec {
  actions: number;
  subscribersPerAction: number;
  /** Messages per second, all publishers together. */
  rates: number[];
  /** The rate of the main table; one of `rates`. */
  headlineRate: number;
  seconds: number;
  bytes: number;
  churnUsers: number;
  waves: number;
}

export const SCALE_SPEC: ScaleSpec = {
  actions: 60, subscribersPerAction: 4, rates: [1000, 1500, 3000, 4500], headlineRate: 1500, seconds: 10, bytes: 128, churnUsers: 2000, waves: 4,
};

/** Redis CPU per process over one step, the wall time it took (ms), and how busy the whole machine was meanwhile (0..1). */
export interface CpuWindow {
  cpu: CpuSample[];
  wallMs: number;
  machineBusy: number;
  /** Background CPU per process (µs/s) measured for this window alone (the bare reference); otherwise the run's idle applies. */
  idle?: number[];
}

export interface FanoutStep extends CpuWindow { rate: number; sent: number; expected: number; delivered: number; p50: number; p99: number }
/** Channels with subscribers and keys per Redis process, read while the fan-out clients were on. */
export interface FanoutOutcome { steps: FanoutStep[]; channels: number[]; keys: number[] }
export interface ChurnOutcome extends CpuWindow {
  users: number;
  /** Online and offline changes: two per user, each seen by every watcher's view. */
  transitions: number;
  /** Presence frames (presence and presence_reset) and listed changes per watcher. */
  feed: Array<{ frames: number; changes: number }>;
}

/** How the backend names an action's channel (classic `P action:a`, sharded `P' action:{a}`). */
export type ChannelName = (action: string) => string;

let loads = 0;
/**
 * The fan-out's action names: the same on every backend (each runs on a fresh Redis), so the
 * bare reference (bare-pubsub.ts) can use the very channels, and hash slots, the gateways use.
 */
export const fanoutActions = (spec: ScaleSpec) => Array.from({ length: spec.actions }, (_, i) => `scale-${i}`);

function openCmd(o: Pick<OpenCommand, 'group' | 'role' | 'urls' | 'count' | 'userPrefix' | 'firstIndex'> & Partial<OpenCommand>): OpenCommand {
  return { cmd: 'open', kind: 'ours', watchNone: true, secret: BENCH_SECRET, concurrency: 100, timeoutMs: 30_000, ...o };
}

/** Messages received by every group whose name starts with `prefix`, over all agents, with their latencies. */
async function received(agents: Agent[], prefix: string): Promise<{ count: number; hist: Histogram }> {
  const hist = new Histogram();
  let count = 0;
  for (const a of agents) {
    const groups = await a.call<Record<string, { received: number; hist: HistogramData }>>({ cmd: 'stats', reset: false });
    for (const [name, g] of Object.entries(groups)) {
      if (!name.startsWith(prefix)) continue;
      count += g.received;
      hist.merge(g.hist);
    }
  }
  return { count, hist };
}

/** Subscribers (spread by the pool over both nodes) and two publishers per action; throws if any client fails. */
async function openFanoutClients(gw: Cluster, subs: AgentPool, pubs: AgentPool, actions: string[], spec: ScaleSpec): Promise<void> {
  const failures: string[] = [];
  const tasks = actions.map((action, i) => async () => {
    const s = await subs.open(spec.subscribersPerAction, (count, firstIndex) =>
      openCmd({ group: `sub:${action}`, role: 'sub', urls: gw.urls, count, firstIndex, userPrefix: `s${loads}_${i}_`, join: action }));
    const p = await pubs.agents[i % pubs.agents.length].call<{ failed: number; firstError?: string }>(
      openCmd({ group: `pub:${action}`, role: 'pub', urls: gw.urls, count: gw.urls.length, firstIndex: 0, userPrefix: `p${loads}_${i}_`, join: action }));
    if (s.failed + p.failed > 0) failures.push(`${action}: ${s.failed} subscribers, ${p.failed} publishers failed (${s.firstError ?? p.firstError})`);
  });
  const r = await pool(tasks, 8);
  if (r.failed > 0 || failures.length > 0) throw new Error(`fan-out clients failed to connect: ${failures[0] ?? r.firstError}`);
}

/** Until every expected message arrived, or nothing new for `quietMs`, or `maxMs` passed. */
async function drain(subs: AgentPool, expected: number, quietMs: number, maxMs: number): Promise<{ count: number; hist: Histogram }> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const r = await received(subs.agents, 'sub:');
    if (r.count >= expected || Date.now() > deadline) return r;
    if (r.count !== last) [last, lastChange] = [r.count, Date.now()];
    else if (Date.now() - lastChange > quietMs) return r;
    await sleep(100);
  }
}

/** Channels with subscribers and keys, per Redis process. */
async function redisLayout(procs: RedisProc[], channels: string[], sharded: boolean): Promise<{ channels: number[]; keys: number[] }> {
  return {
    channels: await Promise.all(procs.map((p) => subscribedChannels(p, channels, sharded))),
    keys: await Promise.all(procs.map(keyCount)),
  };
}

/** CPU of every Redis process while `fn` runs, and the wall time it took. */
export async function cpuWindow<T>(procs: RedisProc[], fn: () => Promise<T>): Promise<CpuWindow & { value: T }> {
  const before = await sampleCpu(procs);
  const t0 = wallMs();
  const m0 = machineTicks();
  const value = await fn();
  const machineBusy = busyFraction(m0, machineTicks());
  return { cpu: cpuDelta(before, await sampleCpu(procs)), wallMs: wallMs() - t0, machineBusy, value };
}

/** Each Redis process's background CPU, µs per second, over `ms` with the gateways up and no load. */
export async function idleRates(procs: RedisProc[], ms: number): Promise<number[]> {
  const w = await cpuWindow(procs, () => sleep(ms));
  return w.cpu.map((c) => (c.total * 1000) / w.wallMs);
}

/** One rate: publish for `spec.seconds` on every action at once, then wait for the deliveries. */
async function fanoutStep(subs: AgentPool, pubs: AgentPool, procs: RedisProc[], actions: string[], rate: number, spec: ScaleSpec): Promise<FanoutStep> {
  await subs.stats('', true); // zero every group's counters and histograms
  const w = await cpuWindow(procs, async () => {
    const runs = await Promise.all(actions.map((action, i) => pubs.agents[i % pubs.agents.length].call<{ sent: number }>(
      { cmd: 'publish', group: `pub:${action}`, action, rate: rate / actions.length, durationMs: spec.seconds * 1000, bytes: spec.bytes })));
    const sent = runs.reduce((s, r) => s + r.sent, 0);
    const expected = sent * spec.subscribersPerAction;
    return { sent, expected, got: await drain(subs, expected, 2000, 15_000) };
  });
  const { sent, expected, got } = w.value;
  return { rate, cpu: w.cpu, wallMs: w.wallMs, machineBusy: w.machineBusy, sent, expected, delivered: got.count, p50: got.hist.quantile(0.5), p99: got.hist.quantile(0.99) };
}

export async function runScaleFanout(gw: Cluster, procs: RedisProc[], channel: ChannelName, sharded: boolean, spec: ScaleSpec): Promise<FanoutOutcome> {
  loads += 1;
  const actions = fanoutActions(spec);
  const subs = AgentPool.start(2);
  const pubs = AgentPool.start(2);
  try {
    await openFanoutClients(gw, subs, pubs, actions, spec);
    await sleep(500); // the joins' presence and membership writes settle before the first CPU window opens
    const layout = await redisLayout(procs, actions.map(channel), sharded);
    const steps: FanoutStep[] = [];
    for (const rate of spec.rates) steps.push(await fanoutStep(subs, pubs, procs, actions, rate, spec));
    return { steps, ...layout };
  } finally {
    await Promise.all([subs.stop(), pubs.stop()]);
  }
}

/** Until every watcher's view holds exactly `online` tracked users. */
async function viewsAt(watch: AgentPool, online: number, timeoutMs: number): Promise<void> {
  await until(`watchers to see ${online} churn users online`, async () => {
    const s = await watch.stats('watch');
    return s.views.length > 0 && s.views.every((v) => v.online === online);
  }, timeoutMs, 50);
}

/** One wave: `n` users connect (spread over both nodes), every watcher sees them online, they close, every watcher sees them offline. */
async function wave(gw: Cluster, users: AgentPool, watch: AgentPool, prefix: string, first: number, n: number, index: number): Promise<void> {
  const group = `wave${index}`;
  const r = await users.open(n, (count, firstIndex) => openCmd({ group, role: 'idle', urls: gw.urls, count, firstIndex: first + firstIndex, userPrefix: prefix }));
  if (r.failed > 0) throw new Error(`${r.failed} of ${n} churn users failed to connect (wave ${index + 1}): ${r.firstError}`);
  await viewsAt(watch, n, 30_000);
  await users.close(group);
  await viewsAt(watch, 0, 30_000); // past the offline grace window
}

export async function runChurn(gw: Cluster, procs: RedisProc[], spec: ScaleSpec): Promise<ChurnOutcome> {
  loads += 1;
  const prefix = `ch${loads}_${Date.now() % 100_000}_`;
  const perWave = Math.ceil(spec.churnUsers / spec.waves);
  const watch = AgentPool.start(1);
  const users = AgentPool.start(2);
  try {
    const w = await watch.open(gw.urls.length, (count, firstIndex) => openCmd({
      group: 'watch', role: 'watch', urls: gw.urls, count, firstIndex, userPrefix: `w${prefix}`, watchNone: false, track: { prefix, count: spec.churnUsers },
    }));
    if (w.failed > 0) throw new Error(`watchers failed to connect: ${w.firstError}`);
    const before = await watch.stats('watch');
    const run = await cpuWindow(procs, async () => {
      for (let first = 0, i = 0; first < spec.churnUsers; first += perWave, i += 1) await wave(gw, users, watch, prefix, first, Math.min(perWave, spec.churnUsers - first), i);
    });
    const after = await watch.stats('watch');
    const feed = after.views.map((v, i) => ({ frames: v.frames - before.views[i].frames, changes: v.changes - before.views[i].changes }));
    return { cpu: run.cpu, wallMs: run.wallMs, machineBusy: run.machineBusy, users: spec.churnUsers, transitions: 2 * spec.churnUsers, feed };
  } finally {
    await Promise.all([watch.stop(), users.stop()]);
  }
}
