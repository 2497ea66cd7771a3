/**
 * The comparisons of `npm run bench -- --cluster` beside the same-load shares of cluster-report.ts:
 * - scale-out: the cluster at 3x the single Redis's rate against the single Redis at 1x, i.e.
 *   each primary carrying about the rate one Redis carried. At these low rates Redis handles
 *   about one message per event-loop turn, so its CPU per message falls as its rate rises; a
 *   primary seeing a third of the same load batches less and costs more than a third. Comparing
 *   at equal per-process rate shows whether the cluster scales out linearly.
 * - work share: commands processed per process during the churn and the headline fan-out step,
 *   i.e. whether the work itself splits three ways even where the CPU does not;
 * - the bare ioredis reference (bare-pubsub.ts): the same Redis effect with no gateway involved.
 */
import {
  argmax, busy, cpuCell, fmt, headline, loadsOf, pct, shareCell, shares, stepAt, sum, total, verdict, type BackendRun, type ScaleResults,
} from './cluster-figures.js';
import type { CpuSample } from './redis-probe.js';
import type { CpuWindow } from './scale-loads.js';

/** The cluster's rate as a multiple of the single Redis's. */
const SCALE_OUT = 3;
/** PASS when the busiest primary at 3x used at most this much of what one Redis used at 1x. */
export const SCALE_OUT_LIMIT = 1.1;

interface ScaleOut {
  low: number;
  high: number;
  singleNet: number;
  singlePerMsg: number;
  busiest: string;
  /** The busiest primary's action channels, and its message rate as a multiple of the single Redis's (3 x its channels / all). */
  channels?: number;
  rateFactor?: number;
  busiestNet: number;
  /** Net µs per message delivered on its channels (delivered x its channels / all channels: publishes are spread evenly). */
  busiestPerMsg?: number;
  ratio: number;
  /** How busy the whole machine was in the two windows (0..1). */
  machineBusy: [number, number];
}

/** The single Redis at `low` msg/s against the cluster at 3x `low`, both net of idle. */
function scaleOut(r: ScaleResults, low: number): ScaleOut | undefined {
  const [single, cluster] = r.runs;
  const a = single && stepAt(low)(single);
  const b = cluster && stepAt(low * SCALE_OUT)(cluster);
  if (!a || !b) return undefined;
  const singleNet = loadsOf(single, a)[0].net;
  const nets = loadsOf(cluster, b).map((l) => l.net);
  const i = argmax(nets);
  const channels = cluster.fanout?.channels[i];
  const through = channels === undefined ? 0 : (b.delivered * channels) / r.spec.actions;
  return {
    low, high: low * SCALE_OUT, singleNet, singlePerMsg: singleNet / Math.max(1, a.delivered), busiest: cluster.procs[i], channels,
    rateFactor: channels === undefined ? undefined : (SCALE_OUT * channels) / r.spec.actions,
    busiestNet: nets[i], busiestPerMsg: through > 0 ? nets[i] / through : undefined, ratio: nets[i] / singleNet, machineBusy: [a.machineBusy, b.machineBusy],
  };
}

const lowRates = (r: ScaleResults) => r.spec.rates.filter((x) => r.spec.rates.includes(x * SCALE_OUT));

function scaleOutTable(r: ScaleResults): string[] {
  const out = [
    `Scale-out: the cluster at ${SCALE_OUT}x the single Redis's rate (each primary carrying about what one Redis carried), net of idle.`,
    'µs per delivered msg: net CPU over the messages delivered on that process\'s channels (busiest primary: delivered x its channels / all channels).',
    '| one Redis at | cluster at | one Redis: net CPU ms | µs per delivered msg | busiest primary | its net CPU ms | µs per delivered msg | busiest primary\'s net CPU as % of one Redis\'s | machine busy (one Redis / cluster) |',
    '|---:|---:|---:|---:|---|---:|---:|---:|---:|',
  ];
  for (const low of lowRates(r)) {
    const s = scaleOut(r, low);
    out.push(s
      ? `| ${fmt(low)} msg/s | ${fmt(s.high)} msg/s | ${fmt(s.singleNet / 1000, 1)} | ${fmt(s.singlePerMsg, 2)} | ${s.busiest} | ${fmt(s.busiestNet / 1000, 1)} | ${fmt(s.busiestPerMsg, 2)} | ${pct(s.ratio)} | ${s.machineBusy.map(pct).join(' / ')} |`
      : `| ${fmt(low)} msg/s | ${fmt(low * SCALE_OUT)} msg/s | — | — | — | — | — | — | — |`);
  }
  return out;
}

export function scaleOutVerdicts(r: ScaleResults): string[] {
  return lowRates(r).map((low) => {
    const s = scaleOut(r, low);
    const what = `scale-out ${fmt(low)} -> ${fmt(low * SCALE_OUT)} msg/s`;
    if (!s) return verdict(undefined, what, 'no data');
    const pass = s.ratio <= SCALE_OUT_LIMIT;
    const why = pass ? `≤ ${pct(SCALE_OUT_LIMIT)}: each primary carries what one Redis carried` : `above ${pct(SCALE_OUT_LIMIT)}: a primary costs more than one Redis did at the same per-process rate`;
    const carried = s.channels === undefined ? '' : `, ${s.channels} of ${r.spec.actions} channels: ${fmt(s.rateFactor, 2)}x the single's message rate`;
    const saturated = Math.max(...s.machineBusy) > 0.9 ? ' (machine SATURATED in a window: figures noisier)' : '';
    const perMsg = `; per delivered message ${fmt(s.busiestPerMsg, 2)} µs against ${fmt(s.singlePerMsg, 2)} µs${saturated}`;
    return verdict(pass, what, `at ${SCALE_OUT}x the load, the busiest primary (${s.busiest}${carried}) used ${pct(s.ratio)} of what one Redis used at 1x (${why})${perMsg}`);
  });
}

/** One row per process (and the primaries' sum) of `cells(run, sample, index)`; index -1 is the sum. */
function perProcess(r: ScaleResults, pick: (run: BackendRun) => CpuWindow | undefined, cells: (run: BackendRun, c: CpuSample | undefined, i: number) => string[]): string[] {
  const out: string[] = [];
  for (const run of r.runs) {
    const w = pick(run);
    run.procs.forEach((proc, i) => out.push(`| ${[run.label, proc, ...cells(run, w?.cpu[i], i)].join(' | ')} |`));
    if (run.procs.length > 1) out.push(`| ${[run.label, 'all primaries', ...cells(run, w && total(w.cpu), -1)].join(' | ')} |`);
  }
  return out;
}

function workShareTable(r: ScaleResults): string[] {
  const single = r.runs[0];
  const base = (w?: CpuWindow) => w?.cpu[0].commands;
  const share = (c: CpuSample | undefined, b: number | undefined) => (c?.commands !== undefined && b ? pct(c.commands / b) : '—');
  const [churn0, fan0] = [base(single?.churn), base(single && headline(r)(single))];
  const both = (run: BackendRun) => ({ churn: run.churn, fan: headline(r)(run) });
  return [
    'Work share: commands each Redis process ran (INFO stats total_commands_processed over the load; Redis 7.0 counts every redis.call inside a script',
    'as well as the EVAL/EVALSHA itself; includes the gateways\' background commands), and its share of the single Redis\'s count for the same load.',
    `| run | Redis process | churn: commands | share of one Redis | fan-out ${fmt(r.spec.headlineRate)} msg/s: commands | share of one Redis |`,
    '|---|---|---:|---:|---:|---:|',
    ...perProcess(r, (run) => run.churn, (run, c, i) => {
      const f = i < 0 ? (both(run).fan && total(both(run).fan!.cpu)) : both(run).fan?.cpu[i];
      return [fmt(c?.commands), i < 0 ? '' : share(c, churn0), fmt(f?.commands), i < 0 ? '' : share(f, fan0)];
    }),
  ];
}

function bareTable(r: ScaleResults): string[] {
  const sh = shares(r, (run) => run.bare);
  const bare = r.runs.find((run) => run.bare)?.bare;
  return [
    `Bare ioredis reference (no gateway): 2 subscriber and 2 publisher connections, ${r.spec.actions} channels (the gateways' names), ` +
      `${fmt(r.spec.headlineRate)} msg/s of ${r.spec.bytes} B for ${r.spec.seconds} s; each delivered msg is one message to one subscriber connection.`,
    `| run | Redis process | idle CPU ms/s | Redis CPU ms (main thread) | µs per delivered msg | share of one Redis: net of idle (raw) | socket reads + writes | commands |`,
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...perProcess(r, (run) => run.bare, (run, c, i) => [
      fmt(i < 0 ? run.bare?.idle && sum(run.bare.idle) / 1000 : run.bare?.idle?.[i] !== undefined ? run.bare.idle[i] / 1000 : undefined, 1),
      cpuCell(c), fmt(c && run.bare ? c.total / Math.max(1, run.bare.delivered) : undefined, 2),
      i < 0 ? '' : shareCell(sh(run)?.[i]), fmt(c?.io), fmt(c?.commands),
    ]),
  ].concat(bare ? [] : ['(no bare run completed)']);
}

export function bareLines(r: ScaleResults): string[] {
  return r.runs.flatMap((run) => {
    const b = run.bare;
    if (!b) return [];
    const lost = b.expected - b.delivered;
    return [`${run.label}, bare ioredis ${fmt(b.rate)} msg/s: sent ${fmt(b.sent)}${b.failed ? ` (${fmt(b.failed)} publishes failed)` : ''}, expected ${fmt(b.expected)}, ` +
      `delivered ${fmt(b.delivered)}, lost ${fmt(Math.max(0, lost))}${lost < 0 ? ` (${fmt(-lost)} duplicates)` : ''}; machine ${busy(b)}`];
  });
}

/** `reference: bare ioredis at R msg/s, busiest primary N% of one Redis (...)`, with the gateways' figure beside it. */
export function referenceLine(r: ScaleResults): string {
  const cluster = r.runs[1];
  const bare = cluster && shares(r, (run) => run.bare)(cluster);
  const gw = cluster && shares(r, headline(r))(cluster);
  if (!bare) return `reference: bare ioredis at ${fmt(r.spec.headlineRate)} msg/s: no data`;
  const i = argmax(bare.map((s) => s.net));
  const withGw = gw ? `; through the gateways at the same rate: ${pct(Math.max(...gw.map((s) => s.net)))}` : '';
  return `reference: bare ioredis at ${fmt(r.spec.headlineRate)} msg/s, busiest primary (${cluster.procs[i]}) ${pct(bare[i].net)} of one Redis ` +
    `(the same Redis batching effect, no gateway involved)${withGw}`;
}

export function formatCompare(r: ScaleResults): string[] {
  return [...scaleOutTable(r), '', ...workShareTable(r), '', ...bareTable(r), '', ...bareLines(r)];
}
