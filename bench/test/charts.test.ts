/**
 * The run's charts (load/charts.ts): drawn from the numbers of a run, as SVG, with the run named
 * on every chart; a chart the run has no numbers for is left out. No server runs here.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chartsOf, loadRun, renderSvg, saveRun, writeCharts, type SavedRun } from '../load/charts.js';
import type { FanoutResult } from '../load/fanout.js';
import type { RunResults } from '../load/report.js';

const spec = (subscribers: number, rate: number) => ({ subscribers, rate, bytes: 256, durationMs: 8000, agents: 2, rounds: 3 });
const fan = (cpuUsPerMsg: number, p99: number) => ({ cpuUsPerMsg, p99, p50: p99 / 3, max: p99 * 2 }) as FanoutResult;

function run(quick: boolean, results: Partial<RunResults> = {}): SavedRun {
  return {
    meta: { date: '2026-12-02T14:21:00.000Z', quick, command: 'npm run bench', machine: '2 cores (AMD EPYC), Node v20.20.2' },
    results: {
      fanout: [
        { spec: spec(1000, 200), by: { ours: fan(2.8, 37), uws: fan(2.7, 38), ws: fan(5.1, 1156), socketio: fan(5.5, 222) } },
        { spec: spec(5000, 10), by: { ours: fan(3.1, 64), uws: fan(2.9, 129) } },
      ],
      memory: {
        ours: { connections: 5000, rssBeforeMB: 80, rssAfterMB: 130, kbPerConn: 10.2, failed: 0, slope: { to: 15000, kbPerConn: 2.15, kbPerConnAfterGc: 1.41 } },
        uws: { connections: 5000, rssBeforeMB: 60, rssAfterMB: 70, kbPerConn: 2.1, failed: 0, slope: { to: 15000, kbPerConn: 0.81 } },
      },
      joinStorms: [
        { n: 4000, by: { ours: { clients: 4000, joinedMs: 1730, nodeCpuMsPerConn: 0.3, presenceFramesPerClient: 1, retried: 0, failed: 0 }, uws: { clients: 4000, joinedMs: 1100, nodeCpuMsPerConn: 0.1, presenceFramesPerClient: 0, retried: 0, failed: 0 } } },
        { n: 10000, by: { ours: { clients: 10000, joinedMs: 3340, nodeCpuMsPerConn: 0.3, presenceFramesPerClient: 1, retried: 0, failed: 0 } } },
      ],
      connectionStorms: [], presenceStorms: [], http: [], jitter: [], errors: [],
      ...results,
    },
  };
}

describe('bench charts', () => {
  it('draws four charts from a full run, each an SVG with its title, servers and numbers', () => {
    const charts = chartsOf(run(false));
    expect(charts.map((c) => c.file)).toEqual(['fanout-cpu.svg', 'fanout-p99.svg', 'join-storm.svg', 'memory.svg']);
    const cpu = renderSvg(charts[0].option);
    expect(cpu.startsWith('<svg')).toBe(true);
    for (const text of ['Fan-out: server CPU per delivered message', 'ours (gateway)', 'uWS relay', 'Socket.IO', '2.8', '5.5', '2026-12-02 14:21 UTC']) {
      expect(cpu).toContain(text);
    }
    expect(cpu).not.toContain('QUICK');
    expect(renderSvg(charts[1].option)).toContain('1156');
    expect(renderSvg(charts[2].option)).toContain('Join storm');
    expect(renderSvg(charts[3].option)).toContain('KB per connection');
  });

  it('labels every chart of a quick run as a placeholder', () => {
    for (const c of chartsOf(run(true))) expect(renderSvg(c.option)).toContain('QUICK SMOKE RUN');
  });

  it('leaves out the charts a run has no numbers for', () => {
    const partial = run(false, { memory: {}, joinStorms: [], fanout: [{ spec: spec(1000, 50), by: {} }] });
    expect(chartsOf(partial)).toEqual([]);
  });

  it('saves a run, reads it back and writes its charts as files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-charts-'));
    saveRun(run(false), join(dir, 'results.json'));
    const back = loadRun(join(dir, 'results.json'));
    expect(back).toEqual(run(false));
    const files = writeCharts(back, join(dir, 'charts'));
    expect(files).toHaveLength(4);
    for (const f of files) expect(readFileSync(f, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    expect(() => loadRun(join(dir, 'charts', 'memory.svg'))).toThrow();
  });
});
