/**
 * Where the gateway's time goes during fan-out: run the fan-out again with both nodes under
 * `node --cpu-prof`, stop them (the profile is written at exit), and summarise each
 * .cpuprofile by self time per function (native frames named with their nearest project or
 * package caller) and per source area. Samples cover the nodes' whole lives (start, connects,
 * fan-out, stop), and a sample lands on the running frame even while the OS has the process
 * descheduled: on a loaded machine, syscall-heavy frames look bigger than their CPU time.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFanout, type FanoutSpec } from './fanout.js';
import type { RedisServer } from './procs.js';
import { startCluster } from './targets.js';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] }

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  topFunctions: Array<{ name: string; pct: number }>;
  byArea: Array<{ area: string; pct: number }>;
}

/** A coarse place in the code: a package, a gateway folder, node internals, or a V8 pseudo-frame. */
function areaOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  if (url.startsWith('node:')) return 'node internals';
  const src = /dist\/(gateway\/src|shared)\/([^/]+)/.exec(url);
  return src ? `${src[1]}/${src[2]}` : url.split('/').slice(-2).join('/');
}

function shortName(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const file = url ? url.split('/').slice(-2).join('/') : '';
  return file ? `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}` : functionName || '(anonymous)';
}

/** The nearest caller (itself included) that is project code or a package: where native time comes from. */
function owner(n: ProfileNode, parents: Map<number, ProfileNode>): ProfileNode | undefined {
  for (let cur: ProfileNode | undefined = n; cur; cur = parents.get(cur.id)) {
    if (/\/dist\/|node_modules/.test(cur.callFrame.url)) return cur;
  }
  return undefined;
}

function top(map: Map<string, number>, total: number, k: number): Array<{ key: string; pct: number }> {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, k).map(([key, hits]) => ({ key, pct: (100 * hits) / total }));
}

export function summarise(file: string, k = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const parents = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parents.set(c, n);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0 || n.callFrame.functionName === '(idle)') continue;
    total += hits;
    const via = owner(n, parents);
    const name = via && via !== n ? `${shortName(n)} ← ${shortName(via)}` : shortName(n);
    byFn.set(name, (byFn.get(name) ?? 0) + hits);
    const area = areaOf(n.callFrame.url, n.callFrame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }
  const msPerSample = (p.endTime - p.startTime) / 1000 / Math.max(1, p.samples.length);
  return {
    file, sampledMs: total * msPerSample,
    topFunctions: top(byFn, total, k).map(({ key, pct }) => ({ name: key, pct })),
    byArea: top(byArea, total, 8).map(({ key, pct }) => ({ area: key, pct })),
  };
}

/** Fan-out against ours with --cpu-prof on both nodes; returns one summary per node. */
export async function profileFanout(redis: RedisServer, spec: FanoutSpec): Promise<ProfileSummary[]> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-prof-'));
  const cluster = await startCluster('ours', redis, 2, { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
  try {
    await runFanout(cluster, spec);
  } finally {
    await cluster.stop();
  }
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => summarise(join(dir, f)));
}

export function formatProfile(summaries: ProfileSummary[]): string {
  const lines: string[] = [];
  summaries.forEach((s, i) => {
    lines.push(`node ${i + 1}: ${s.sampledMs.toFixed(0)} ms sampled outside (idle); ${s.file}`);
    lines.push(`  by area: ${s.byArea.map((a) => `${a.area} ${a.pct.toFixed(1)}%`).join(', ')}`);
    for (const f of s.topFunctions) lines.push(`  ${f.pct.toFixed(1).padStart(5)}%  ${f.name}`);
  });
  return lines.join('\n');
}
