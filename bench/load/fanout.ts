/**
 * Fan-out: C subscribers of one action spread over the cluster's nodes, P publishers (one
 * per node, also members, whose own receptions are not counted) sending R msgs/s of S bytes
 * in total. Measures delivery rate, publish-to-receive latency (send time in the payload),
 * server CPU per delivered message (/proc utime+stime of the server processes), and
 * whether the generator or the machine was saturated.
 */
import { AgentPool } from './agents.js';
import { busyFraction, cpuTimes, machineTicks, sleep } from './procs.js';
import { median, wallMs } from './stats.js';
import { BENCH_SECRET, type Cluster } from './targets.js';

export interface FanoutSpec {
  subscribers: number;
  /** Messages per second, all publishers together. */
  rate: number;
  bytes: number;
  durationMs: number;
  /** Agent processes holding the subscribers (the publishers get one more). */
  agents: number;
  /** Runs per server, interleaved across servers by the caller; the median of each figure is reported. */
  rounds: number;
}

export interface FanoutResult {
  spec: FanoutSpec;
  /** How many runs the figures are the median of. */
  runs: number;
  sent: number;
  delivered: number;
  expected: number;
  deliveredPerS: number;
  p50: number;
  p99: number;
  max: number;
  /** Server CPU microseconds per delivered message (user + system), all nodes together. */
  cpuUsPerMsg: number;
  /** The system (kernel) part of it: socket writes over loopback, mostly. */
  sysUsPerMsg: number;
  /** Busiest server process, % of one core. */
  serverCpuPct: number;
  /** Busiest generator process, % of one core. */
  generatorCpuPct: number;
  machineBusyPct: number;
  notes: string[];
}

const ACTION = 'bench';
let runs = 0;

/** Opens subscribers and publishers; returns how many subscribers are ready. Up to 1% may fail (noted). */
async function openClients(cluster: Cluster, subs: AgentPool, pubs: AgentPool, spec: FanoutSpec, notes: string[]): Promise<number> {
  runs += 1;
  const base = { cmd: 'open', kind: cluster.kind, join: ACTION, watchNone: true, secret: BENCH_SECRET, concurrency: 200, timeoutMs: 30_000 } as const;
  const s = await subs.open(spec.subscribers, (count, firstIndex) => ({ ...base, group: 'sub', role: 'sub', urls: cluster.urls, count, userPrefix: `sub${runs}_`, firstIndex }));
  const p = await pubs.open(cluster.urls.length, (count, firstIndex) => ({ ...base, group: 'pub', role: 'pub', urls: cluster.urls, count, userPrefix: `pub${runs}_`, firstIndex }));
  const serverLog = () => cluster.nodes.map((n) => `${n.name}: ${n.tail().split('\n').slice(-2).join(' / ')}`).join('; ');
  if (p.failed > 0 || s.failed > spec.subscribers * 0.01) {
    throw new Error(`${s.failed} subscribers and ${p.failed} publishers failed to connect (${s.firstError ?? p.firstError}); ${serverLog()}`);
  }
  const retried = s.retried + p.retried;
  if (retried > 0) notes.push(`${retried} clients connected at their second attempt (first: ${s.firstRetryReason ?? p.firstRetryReason})`);
  if (s.failed > 0) notes.push(`${s.failed} of ${spec.subscribers} subscribers failed to connect (${s.firstError}); measured with ${s.open}`);
  return s.open;
}

/** Wait until every expected message arrived, or nothing arrived for `quietMs`, or `maxMs` passed. */
async function drain(subs: AgentPool, expected: number, quietMs: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const { received } = await subs.stats('sub');
    if (received >= expected || Date.now() > deadline) return received;
    if (received !== last) {
      last = received;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) return received;
    await sleep(100);
  }
}

function notesFor(r: Omit<FanoutResult, 'notes'>, notes: string[]): string[] {
  if (r.delivered < r.expected * 0.99) notes.push(`delivered ${((100 * r.delivered) / r.expected).toFixed(1)}% of expected`);
  if (r.generatorCpuPct > 90) notes.push(`generator saturated (${r.generatorCpuPct.toFixed(0)}% of a core)`);
  if (r.machineBusyPct > 95) notes.push(`machine CPU saturated (${r.machineBusyPct.toFixed(0)}% of 2 cores)`);
  return notes;
}

export async function runFanout(cluster: Cluster, spec: FanoutSpec): Promise<FanoutResult> {
  const subs = AgentPool.start(spec.agents);
  const pubs = AgentPool.start(1);
  try {
    const notes: string[] = [];
    const subscribers = await openClients(cluster, subs, pubs, spec, notes);
    await sleep(500);
    await subs.stats('sub', true);
    const pids = cluster.nodes.map((n) => n.pid);
    const gens = [...subs.agents, ...pubs.agents];
    const cpu0 = pids.map(cpuTimes);
    const gen0 = gens.map((a) => a.cpu());
    const m0 = machineTicks();
    const t0 = wallMs();
    const { sent } = await pubs.agents[0].call<{ sent: number }>({ cmd: 'publish', group: 'pub', action: ACTION, rate: spec.rate, durationMs: spec.durationMs, bytes: spec.bytes });
    const expected = sent * subscribers;
    await drain(subs, expected, 1000, 10_000);
    const wall = (wallMs() - t0) * 1000;
    const times = pids.map((pid, i) => {
      const t = cpuTimes(pid);
      return { user: t.user - cpu0[i].user, sys: t.sys - cpu0[i].sys };
    });
    const cpu = times.map((t) => t.user + t.sys);
    const sys = times.reduce((a, t) => a + t.sys, 0);
    const gen = gens.map((a, i) => a.cpu() - gen0[i]);
    const machineBusyPct = 100 * busyFraction(m0, machineTicks());
    const stats = await subs.stats('sub');
    const delivered = stats.received;
    const result = {
      spec, runs: 1, sent, delivered, expected,
      deliveredPerS: delivered / (spec.durationMs / 1000),
      p50: stats.hist.quantile(0.5), p99: stats.hist.quantile(0.99), max: stats.hist.max,
      cpuUsPerMsg: cpu.reduce((a, b) => a + b, 0) / Math.max(1, delivered),
      sysUsPerMsg: sys / Math.max(1, delivered),
      serverCpuPct: (100 * Math.max(...cpu)) / wall,
      generatorCpuPct: (100 * Math.max(...gen)) / wall,
      machineBusyPct,
    };
    return { ...result, notes: notesFor(result, notes) };
  } finally {
    await Promise.all([subs.stop(), pubs.stop()]);
  }
}

/** One result whose every figure is the median over `runs` (notes: all of them, once each). */
export function medianOf(runs: FanoutResult[]): FanoutResult {
  const m = (f: (r: FanoutResult) => number) => median(runs.map(f));
  return {
    spec: runs[0].spec, runs: runs.length,
    sent: m((r) => r.sent), delivered: m((r) => r.delivered), expected: m((r) => r.expected), deliveredPerS: m((r) => r.deliveredPerS),
    p50: m((r) => r.p50), p99: m((r) => r.p99), max: m((r) => r.max), cpuUsPerMsg: m((r) => r.cpuUsPerMsg), sysUsPerMsg: m((r) => r.sysUsPerMsg),
    serverCpuPct: m((r) => r.serverCpuPct), generatorCpuPct: m((r) => r.generatorCpuPct), machineBusyPct: m((r) => r.machineBusyPct),
    notes: [...new Set(runs.flatMap((r, i) => r.notes.map((n) => (runs.length > 1 ? `run ${i + 1}: ${n}` : n))))],
  };
}
