/**
 * What `npm run bench -- --cluster` measured, and the arithmetic its tables share
 * (cluster-report.ts, cluster-compare.ts): CPU net of idle, shares of the single Redis,
 * number formats and verdict lines.
 */
import type { BareOutcome } from './bare-pubsub.js';
import type { CpuSample } from './redis-probe.js';
import type { ChurnOutcome, CpuWindow, FanoutOutcome, FanoutStep, ScaleSpec } from './scale-loads.js';

export interface BackendRun {
  label: string;
  /** Labels of the Redis processes, in the order of every per-process figure. */
  procs: string[];
  /** Background CPU per process with the gateways up and no load, µs per second. */
  idle?: number[];
  churn?: ChurnOutcome;
  fanout?: FanoutOutcome;
  /** The bare ioredis pub/sub reference at the headline rate, no gateway (it carries its own idle). */
  bare?: BareOutcome;
}

export interface ScaleResults {
  spec: ScaleSpec;
  /** The single Redis first (the baseline of every share), then the cluster. */
  runs: BackendRun[];
  errors: string[];
}

/** The goal: no primary carries more than this share of what the single Redis used for the same load. */
export const SHARE_GOAL = 0.4;

export const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : `${(100 * v).toFixed(0)}%`);
export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** CPU ms, with the main thread's part in parentheses when Redis reports it. */
export const cpuCell = (c?: CpuSample) => (c ? `${fmt(c.total / 1000, 1)}${c.main !== undefined ? ` (${fmt(c.main / 1000, 1)})` : ''}` : '—');

/** The sum over processes (the cluster's "all primaries" row). */
export function total(cpu: CpuSample[]): CpuSample {
  const all = (xs: Array<number | undefined>) => (xs.every((x) => x !== undefined) ? sum(xs as number[]) : undefined);
  return { total: sum(cpu.map((c) => c.total)), main: all(cpu.map((c) => c.main)), io: all(cpu.map((c) => c.io)), commands: all(cpu.map((c) => c.commands)) };
}

/** One process's CPU over a window in µs: raw, and net of its idle background (the window's own, else the run's) over the same wall time. */
export interface Load { raw: number; net: number }
export function loadsOf(run: BackendRun, w: CpuWindow): Load[] {
  const idle = w.idle ?? run.idle;
  return w.cpu.map((c, i) => ({ raw: c.total, net: Math.max(0, c.total - ((idle?.[i] ?? 0) * w.wallMs) / 1000) }));
}

export type Pick = (run: BackendRun) => CpuWindow | undefined;

/** Each process's share of what the single Redis used for the same window's load: net of idle, and raw. */
export function shares(r: ScaleResults, pick: Pick): (run: BackendRun) => Array<{ net: number; raw: number }> | undefined {
  const single = r.runs[0];
  const w0 = single && pick(single);
  const base = single && w0 ? loadsOf(single, w0)[0] : undefined;
  return (run) => {
    const w = pick(run);
    if (!base || !w) return undefined;
    return loadsOf(run, w).map((l) => ({ net: l.net / base.net, raw: l.raw / base.raw }));
  };
}
export const shareCell = (s?: { net: number; raw: number }) => (s ? `${pct(s.net)} (${pct(s.raw)})` : '—');

/** Index of the largest value. */
export const argmax = (xs: number[]) => xs.reduce((w, x, i) => (x > xs[w] ? i : w), 0);

export const stepAt = (rate: number): ((run: BackendRun) => FanoutStep | undefined) => (run) => run.fanout?.steps.find((s) => s.rate === rate);
export const headline = (r: ScaleResults) => stepAt(r.spec.headlineRate);

/** The whole machine's load over a window: past 90% of every core the processes contend and the CPU figures are noisier. */
export const busy = (w: CpuWindow) => `${pct(w.machineBusy)} busy${w.machineBusy > 0.9 ? ' (SATURATED: figures noisier)' : ''}`;

export const verdict = (pass: boolean | undefined, what: string, detail: string) => `${pass === undefined ? 'NOT RUN' : pass ? 'PASS' : 'MISS'}  ${what}: ${detail}`;
