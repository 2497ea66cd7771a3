/**
 * The report of `npm run bench -- --cluster`: one row per Redis process (the single server, then
 * each primary and their sum), the scaling curve, the comparisons of cluster-compare.ts (scale-out,
 * work share, bare reference), the loads' delivery and presence figures, and the PASS/MISS lines
 * for "no primary above 40% of the single Redis's CPU", "nothing lost" and the scale-out.
 */
import { formatCompare, referenceLine, scaleOutVerdicts } from './cluster-compare.js';
import {
  argmax, busy, cpuCell, fmt, headline, pct, SHARE_GOAL, shareCell, shares, stepAt, sum, total, verdict, type BackendRun, type Pick, type ScaleResults,
} from './cluster-figures.js';
import type { CpuSample } from './redis-probe.js';
import type { FanoutStep } from './scale-loads.js';

export type { BackendRun, ScaleResults } from './cluster-figures.js';

interface Cells { idle?: number; fan?: CpuSample; churn?: CpuSample; fanShare?: string; churnShare?: string; channels?: number; keys?: number }

function rows(r: ScaleResults): string[] {
  const fanShare = shares(r, headline(r));
  const churnShare = shares(r, (run) => run.churn);
  const out: string[] = [];
  for (const run of r.runs) {
    const f = headline(r)(run);
    const c = run.churn;
    const line = (proc: string, x: Cells) => out.push(`| ${[
      run.label, proc, fmt(x.idle === undefined ? undefined : x.idle / 1000, 1),
      cpuCell(x.fan), fmt(x.fan && f ? x.fan.total / Math.max(1, f.delivered) : undefined, 2), x.fanShare ?? '',
      cpuCell(x.churn), fmt(x.churn && c ? x.churn.total / Math.max(1, c.transitions) : undefined, 1), x.churnShare ?? '',
      fmt(x.channels), fmt(x.keys),
    ].join(' | ')} |`);
    const fs = fanShare(run);
    const cs = churnShare(run);
    run.procs.forEach((proc, i) => line(proc, {
      idle: run.idle?.[i], fan: f?.cpu[i], churn: c?.cpu[i], fanShare: shareCell(fs?.[i]), churnShare: shareCell(cs?.[i]),
      channels: run.fanout?.channels[i], keys: run.fanout?.keys[i],
    }));
    if (run.procs.length > 1) {
      line('all primaries', {
        idle: run.idle && sum(run.idle), fan: f && total(f.cpu), churn: c && total(c.cpu),
        channels: run.fanout && sum(run.fanout.channels), keys: run.fanout && sum(run.fanout.keys),
      });
    }
  }
  return out;
}

function table(r: ScaleResults): string {
  return [
    `| run | Redis process | idle CPU ms/s | fan-out ${fmt(r.spec.headlineRate)} msg/s: Redis CPU ms (main thread) | µs per delivered msg | share of one Redis: net of idle (raw) |` +
      ' churn: Redis CPU ms (main thread) | µs per presence change | share of one Redis: net of idle (raw) | action channels | keys |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows(r),
  ].join('\n');
}

/** The scaling curve: per fan-out rate, the single Redis against the cluster and each primary's share. */
function curve(r: ScaleResults): string {
  const [single, cluster] = r.runs;
  const procs = cluster?.procs ?? [];
  const out = [
    `| fan-out rate | delivered msg/s (one Redis / cluster) | one Redis: CPU ms, µs/msg | all primaries: CPU ms, µs/msg | Redis socket reads + writes per delivered msg (one Redis / all primaries) | ${procs.map((p) => `${p}: share net (raw)`).join(' | ')} |`,
    `|---:|---:|---:|---:|---:|${procs.map(() => '---:').join('|')}|`,
  ];
  for (const rate of r.spec.rates) {
    const at = stepAt(rate);
    const a = single && at(single);
    const b = cluster && at(cluster);
    const perS = (s?: FanoutStep) => fmt(s ? s.delivered / r.spec.seconds : undefined);
    const cpu = (s?: FanoutStep) => (s ? `${fmt(sum(s.cpu.map((c) => c.total)) / 1000, 1)}, ${fmt(sum(s.cpu.map((c) => c.total)) / Math.max(1, s.delivered), 2)}` : '—');
    const io = (s?: FanoutStep) => (s && s.cpu.every((c) => c.io !== undefined) ? fmt(sum(s.cpu.map((c) => c.io!)) / Math.max(1, s.delivered), 2) : '—');
    const sh = cluster ? shares(r, at)(cluster) : undefined;
    out.push(`| ${fmt(rate)} | ${perS(a)} / ${perS(b)} | ${cpu(a)} | ${cpu(b)} | ${io(a)} / ${io(b)} | ${procs.map((_, i) => shareCell(sh?.[i])).join(' | ')} |`);
  }
  return out.join('\n');
}

function loadLines(r: ScaleResults): string[] {
  const out: string[] = [];
  for (const run of r.runs) {
    for (const f of run.fanout?.steps ?? []) {
      const lost = f.expected - f.delivered;
      out.push(`${run.label}, fan-out ${fmt(f.rate)} msg/s: sent ${fmt(f.sent)}, expected ${fmt(f.expected)}, delivered ${fmt(f.delivered)}, lost ${fmt(Math.max(0, lost))}` +
        `${lost < 0 ? ` (${fmt(-lost)} more than expected: duplicates)` : ''}; latency p50 ${fmt(f.p50, 2)} ms, p99 ${fmt(f.p99, 2)} ms; machine ${busy(f)}`);
    }
    const c = run.churn;
    if (c) {
      out.push(`${run.label}, churn: ${fmt(c.users)} users, ${fmt(c.transitions)} presence changes (online + offline, every wave seen by every watcher) in ${fmt(c.wallMs / 1000, 1)} s, machine ${busy(c)}; ` +
        `feed per watcher: ${c.feed.map((x) => `${fmt(x.frames)} frames listing ${fmt(x.changes)} changes`).join(', ')} (the rest came as presence_reset snapshots)`);
    }
  }
  return out;
}

/** The busiest primary's share (net of idle) of the single Redis's CPU for one window, against the goal. */
function shareVerdict(r: ScaleResults, what: string, pick: Pick): string {
  const cluster = r.runs[1];
  const sh = cluster ? shares(r, pick)(cluster) : undefined;
  const title = `${what}: no primary above ${pct(SHARE_GOAL)} of the single Redis's CPU (net of idle)`;
  if (!cluster || !sh) return verdict(undefined, title, 'no data');
  const worst = argmax(sh.map((s) => s.net));
  const w = pick(cluster)!;
  const all = sum(w.cpu.map((c) => c.total));
  const part = all > 0 ? w.cpu[worst].total / all : 0;
  const note = part > 0.6 ? `; it did ${pct(part)} of the cluster's Redis CPU for this load` : '';
  return verdict(sh[worst].net <= SHARE_GOAL, title, `busiest ${cluster.procs[worst]} ${shareCell(sh[worst])}${note}`);
}

function lossVerdict(r: ScaleResults): string {
  const parts: string[] = [];
  let pass: boolean | undefined = r.runs.length === 2 ? true : undefined;
  for (const run of r.runs) {
    if (!run.fanout || !run.churn) pass = undefined;
    const steps = run.fanout?.steps ?? [];
    const lost = sum(steps.map((s) => Math.max(0, s.expected - s.delivered)));
    pass &&= steps.every((s) => s.delivered === s.expected);
    if (run.fanout) parts.push(`${run.label} lost ${fmt(lost)} of ${fmt(sum(steps.map((s) => s.expected)))} messages`);
    if (run.churn) parts.push(`${run.label} churn: every watcher saw all ${fmt(run.churn.users)} users online and offline`);
  }
  return verdict(pass, 'nothing lost (every message to every subscriber; every presence change reached every view)', parts.join('; ') || 'no data');
}

export function formatScale(r: ScaleResults): string {
  const s = r.spec;
  const lines = [
    'Redis scaling: the same load on one redis-server and on a three-primary Redis Cluster (two gateway nodes each time).',
    `load: churn of ${fmt(s.churnUsers)} distinct users in ${s.waves} waves (connect, seen online, disconnect, seen offline); ` +
      `fan-out over ${s.actions} actions x ${s.subscribersPerAction} subscribers (both nodes), ${s.rates.map((x) => fmt(x)).join(', ')} msg/s of ${s.bytes} B for ${s.seconds} s each.`,
    'Redis CPU: INFO cpu used_cpu_sys + used_cpu_user over each load (main thread in parentheses). Share: of the single Redis\'s CPU for the same load,',
    'net of each process\'s idle background (measured with the gateways up, no load; a cluster node\'s includes its bus), raw in parentheses.',
    'Channels: action channels with subscribers on that process (PUBSUB NUMSUB; cluster: SHARDNUMSUB); keys: DBSIZE; both read during the fan-out.',
    'Reads + writes: INFO stats total_reads_processed + total_writes_processed; fewer per message means more messages per socket call (batching).',
    '',
    table(r),
    '',
    'Scaling curve (fan-out):',
    curve(r),
    '',
    ...formatCompare(r),
    '',
    ...loadLines(r),
    '',
    'Targets:',
    ...s.rates.map((rate) => `  ${shareVerdict(r, `fan-out ${fmt(rate)} msg/s`, stepAt(rate))}`),
    `  ${shareVerdict(r, 'churn', (run) => run.churn)}`,
    `  ${lossVerdict(r)}`,
    ...scaleOutVerdicts(r).map((l) => `  ${l}`),
    `  ${referenceLine(r)}`,
  ];
  if (r.errors.length > 0) lines.push('', 'Errors:', ...r.errors.map((e) => `  - ${e}`));
  return lines.join('\n');
}
