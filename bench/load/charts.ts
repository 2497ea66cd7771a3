/**
 * Charts of one run, drawn from that run's own numbers (RunResults) as SVG files by Apache
 * ECharts' server-side renderer (no DOM, no canvas, no native code):
 *   fanout-cpu.svg   server CPU per delivered message, per fan-out scenario and server
 *   fanout-p99.svg   p99 delivery latency, per fan-out scenario and server (log scale)
 *   join-storm.svg   time until every client joined, against the number of clients
 *   memory.svg       memory per idle connection, against the connections held
 * A chart whose numbers the run does not have (a phase failed, `--only`) is left out. Quick runs
 * say so in every chart. `chartsOf` is pure (options only); `renderSvg` draws one; `saveRun` and
 * `writeCharts` are the files: `npm run bench` writes both, `npm run bench:charts` the charts again
 * from a saved run.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { JoinStormVariant } from './join-storm.js';
import { KINDS, scenarioName, type RunResults } from './report.js';
import { ROOT } from './procs.js';
import { LABELS, type ServerKind } from './wire.js';

echarts.use([BarChart, LineChart, GridComponent, LegendComponent, TitleComponent, SVGRenderer]);

/** What a run leaves beside its numbers: when, how, where. */
export interface RunMeta { date: string; quick: boolean; command: string; machine: string }

/** The file `bench/results.json` a run writes, and `npm run bench:charts` reads. */
export interface SavedRun { meta: RunMeta; results: RunResults }

export interface Chart { file: string; title: string; option: echarts.EChartsCoreOption }

const WIDTH = 760;
const HEIGHT = 400;
const COLORS: Record<string, string> = { ours: '#0b57d0', uws: '#15803d', ws: '#a16207', socketio: '#be123c' };
const STORM_LABELS: Record<JoinStormVariant, string> = {
  ours: 'ours, default * feed', 'ours-watch-none': 'ours, watch []', 'ours-listed': 'ours, every change listed', uws: 'uWS relay',
};
const STORM_COLORS: Record<JoinStormVariant, string> = { ours: '#0b57d0', 'ours-watch-none': '#7c3aed', 'ours-listed': '#0e7490', uws: '#15803d' };

function frame(title: string, subtitle: string, yName: string, yLog = false): echarts.EChartsCoreOption {
  return {
    animation: false, backgroundColor: '#ffffff', textStyle: { fontFamily: 'system-ui, sans-serif' },
    title: { text: title, subtext: subtitle, left: 'center', textStyle: { fontSize: 16 } },
    // Text is measured by estimate without a canvas: extra room between legend items keeps them apart.
    legend: { bottom: 0, itemGap: 34 },
    grid: { left: 70, right: 30, top: 90, bottom: 90 },
    yAxis: { type: yLog ? 'log' : 'value', name: yName, nameLocation: 'middle', nameGap: 50, ...(yLog ? { logBase: 10 } : {}) },
  };
}

/** An axis end a little past `n`, so the labels of the last points fit. */
const roomFor = (n: number) => Math.ceil((n * 1.12) / 100) * 100;
const kindsIn = (present: (k: ServerKind) => boolean) => KINDS.filter(present);
/** A scenario's short name for an axis: `1,000 × 200/s × 256 B`. */
const shortName = (s: RunResults['fanout'][number]['spec']) => scenarioName({ ...s, rounds: 1 }).replace(' subs', '');

function fanoutChart(r: RunResults, file: string, title: string, yName: string, pick: 'cpuUsPerMsg' | 'p99', log: boolean, sub: string): Chart | undefined {
  const scenarios = r.fanout.filter((f) => Object.keys(f.by).length > 0);
  if (scenarios.length === 0) return undefined;
  const kinds = kindsIn((k) => scenarios.some((f) => f.by[k]));
  const series = kinds.map((k) => ({
    type: 'bar', name: LABELS[k], itemStyle: { color: COLORS[k] },
    label: { show: true, position: 'top', fontSize: 10, formatter: (p: { value: number }) => (p.value >= 100 ? p.value.toFixed(0) : p.value.toFixed(1)) },
    data: scenarios.map((f) => f.by[k]?.[pick] ?? null),
  }));
  return { file, title, option: { ...frame(title, sub, yName, log), xAxis: { type: 'category', data: scenarios.map((f) => shortName(f.spec)) }, series } };
}

function joinStormChart(r: RunResults, sub: string): Chart | undefined {
  const storms = r.joinStorms.filter((s) => Object.keys(s.by).length > 0).sort((a, b) => a.n - b.n);
  if (storms.length === 0) return undefined;
  const variants = (Object.keys(STORM_LABELS) as JoinStormVariant[]).filter((v) => storms.some((s) => s.by[v]));
  const title = 'Join storm: time until every client joined';
  const series = variants.map((v) => ({
    type: 'line', name: STORM_LABELS[v], symbolSize: 8, itemStyle: { color: STORM_COLORS[v] }, lineStyle: { color: STORM_COLORS[v] },
    label: { show: true, position: 'right', fontSize: 10, formatter: (p: { value: [number, number] }) => `${p.value[1].toFixed(2)} s` },
    data: storms.map((s) => [s.n, s.by[v] ? s.by[v]!.joinedMs / 1000 : null]),
  }));
  const xAxis = { type: 'value', name: 'clients connecting at once (2 nodes)', nameLocation: 'middle', nameGap: 30, min: 0, max: roomFor(storms.at(-1)!.n) };
  return { file: 'join-storm.svg', title, option: { ...frame(title, sub, 'seconds'), xAxis, series } };
}

/**
 * The average memory each idle connection holds (RSS growth over the idle server ÷ connections)
 * at both sizes of the run: after a full GC when every server's GC could be asked for (what
 * stays), else right after connecting.
 */
function memoryChart(r: RunResults, sub: string): Chart | undefined {
  const kinds = kindsIn((k) => r.memory[k] !== undefined);
  if (kinds.length === 0) return undefined;
  const afterGc = kinds.every((k) => r.memory[k]!.kbPerConnAfterGc !== undefined && (!r.memory[k]!.slope || r.memory[k]!.slope!.kbPerConnAfterGc !== undefined));
  const title = 'Memory per idle connection';
  const series = kinds.map((k) => {
    const m = r.memory[k]!;
    const first = afterGc ? m.kbPerConnAfterGc! : m.kbPerConn;
    const points: Array<[number, number]> = [[m.connections, first]];
    if (m.slope) {
      const marginal = afterGc ? m.slope.kbPerConnAfterGc! : m.slope.kbPerConn;
      points.push([m.slope.to, (first * m.connections + marginal * (m.slope.to - m.connections)) / m.slope.to]);
    }
    return {
      type: 'line', name: LABELS[k], symbolSize: 8, itemStyle: { color: COLORS[k] }, lineStyle: { color: COLORS[k] }, data: points,
      // The relay is the lowest line: its labels below it, clear of ours just above.
      label: { show: true, position: k === 'uws' ? 'bottom' : 'top', fontSize: 10, formatter: (p: { value: [number, number] }) => p.value[1].toFixed(2) },
    };
  });
  const most = Math.max(...kinds.map((k) => r.memory[k]!.slope?.to ?? r.memory[k]!.connections));
  const xAxis = { type: 'value', name: 'idle connections held on one node', nameLocation: 'middle', nameGap: 30, min: 0, max: roomFor(most) };
  const how = afterGc ? 'RSS growth ÷ connections, after a full GC' : 'RSS growth ÷ connections, right after connecting';
  return { file: 'memory.svg', title, option: { ...frame(title, `${sub}\n${how}`, 'KB per connection (average)'), xAxis, series } };
}

/** Every chart the run has numbers for. */
export function chartsOf(run: SavedRun): Chart[] {
  const when = `${run.meta.quick ? 'QUICK SMOKE RUN (placeholder, not comparable), ' : ''}${run.meta.date.slice(0, 16).replace('T', ' ')} UTC, ${run.meta.machine}`;
  const r = run.results;
  return [
    fanoutChart(r, 'fanout-cpu.svg', 'Fan-out: server CPU per delivered message', 'µs CPU per delivered message', 'cpuUsPerMsg', false, when),
    fanoutChart(r, 'fanout-p99.svg', 'Fan-out: p99 delivery latency', 'p99 latency, ms (log scale)', 'p99', true, when),
    joinStormChart(r, when),
    memoryChart(r, when),
  ].filter((c): c is Chart => c !== undefined);
}

/** One chart as an SVG document. */
export function renderSvg(option: echarts.EChartsCoreOption, width = WIDTH, height = HEIGHT): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption(option);
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/** Where a run's numbers are kept (committed with the RESULTS.md they back), and its charts. */
export const RESULTS_FILE = join(ROOT, 'bench', 'results.json');
export const CHARTS_DIR = join(ROOT, 'bench', 'charts');

export function saveRun(run: SavedRun, file = RESULTS_FILE): void {
  writeFileSync(file, `${JSON.stringify(run, null, 1)}\n`);
}

export function loadRun(file = RESULTS_FILE): SavedRun {
  const run = JSON.parse(readFileSync(file, 'utf8')) as SavedRun;
  if (typeof run?.meta?.date !== 'string' || !Array.isArray(run?.results?.fanout)) throw new Error(`${file} is not a saved bench run`);
  return run;
}

/** Render every chart of `run` into `dir`; returns the files written. */
export function writeCharts(run: SavedRun, dir = CHARTS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  return chartsOf(run).map((c) => {
    const path = join(dir, c.file);
    writeFileSync(path, renderSvg(c.option));
    return path;
  });
}
