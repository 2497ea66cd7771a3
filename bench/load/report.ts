/**
 * The one results table (ours next to each peer, with ratios) and the PASS/MISS lines
 * for the targets, from the results of one run.
 */
import { bundleVerdict, type BundleRow } from './bundles.js';
import { fallbackVerdicts, type FallbackResult } from './fallback.js';
import { verdict, type Verdict } from './verdict.js';
import type { FanoutResult, FanoutSpec } from './fanout.js';
import type { MemoryResult } from './memory.js';
import type { JitterResult } from './jitter.js';
import type { HttpResult } from './search.js';
import type { ScaleResult } from './scale.js';
import type { ConnectionStormResult, PresenceStormResult } from './storm.js';
import type { JoinStormResult, JoinStormVariant } from './join-storm.js';
import { LABELS, type ServerKind } from './wire.js';

export const KINDS: ServerKind[] = ['ours', 'uws', 'ws', 'socketio'];

export interface RunResults {
  fanout: Array<{ spec: FanoutSpec; by: Partial<Record<ServerKind, FanoutResult>> }>;
  memory: Partial<Record<ServerKind, MemoryResult>>;
  /** One per gateway setting, e.g. with the event stream (the default) and with EVENTS_MAXLEN=0. */
  connectionStorms: Array<ConnectionStormResult & { label: string }>;
  presenceStorms: PresenceStormResult[];
  /** The connect path next to the relay's, per storm size (join-storm.ts). */
  joinStorms: Array<{ n: number; by: Partial<Record<JoinStormVariant, JoinStormResult>> }>;
  /** The default-feed join storm run again and again on fresh nodes: abrupt closes are counted, not retried away. */
  repeatedStorms?: { rounds: number; clients: number; joinedMs: number[]; retried: number; failed: number; reasons: string[] };
  http: HttpResult[];
  scale?: ScaleResult;
  /** Why scale was not run, when it was not. */
  scaleSkipped?: string;
  /** Recovery under jitter: exact rejoins, then plain ones. */
  jitter: JitterResult[];
  /** Browser bundle sizes, ours first, then the peers' clients (bundles.ts). */
  bundles?: BundleRow[];
  /** The HTTP streaming fallback beside the WebSocket (fallback.ts). */
  fallback?: FallbackResult;
  errors: string[];
}

interface Row { metric: string; values: Partial<Record<ServerKind, number>>; digits: number; oursOnly?: boolean }

const fmt = (v: number | undefined, digits: number) =>
  v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a) ? '—' : `${(a / b).toFixed(2)}x`);

export const scenarioName = (s: FanoutSpec) =>
  `${s.subscribers.toLocaleString('en-US')} subs × ${s.rate}/s × ${s.bytes} B${s.rounds > 1 ? ` (median of ${s.rounds} interleaved runs)` : ''}`;

function fanoutRows(r: RunResults): Row[] {
  const rows: Row[] = [];
  for (const { spec, by } of r.fanout) {
    const pick = (f: (x: FanoutResult) => number) => Object.fromEntries(KINDS.filter((k) => by[k]).map((k) => [k, f(by[k]!)]));
    const name = `fan-out ${scenarioName(spec)}`;
    rows.push({ metric: `${name}: delivered msgs/s (expected ${fmt(spec.subscribers * spec.rate, 0)})`, values: pick((x) => x.deliveredPerS), digits: 0 });
    rows.push({ metric: `${name}: latency p50 ms`, values: pick((x) => x.p50), digits: 2 });
    rows.push({ metric: `${name}: latency p99 ms`, values: pick((x) => x.p99), digits: 2 });
    rows.push({ metric: `${name}: latency max ms`, values: pick((x) => x.max), digits: 1 });
    rows.push({ metric: `${name}: server CPU µs per delivered msg`, values: pick((x) => x.cpuUsPerMsg), digits: 2 });
    rows.push({ metric: `${name}: … of which user space µs`, values: pick((x) => x.cpuUsPerMsg - x.sysUsPerMsg), digits: 2 });
    rows.push({ metric: `${name}: … of which kernel (system time) µs`, values: pick((x) => x.sysUsPerMsg), digits: 2 });
  }
  return rows;
}

function oursOnlyRows(r: RunResults): Row[] {
  const rows: Row[] = [];
  const add = (metric: string, v: number | undefined, digits: number) => rows.push({ metric, values: { ours: v }, digits, oursOnly: true });
  for (const cs of r.connectionStorms) {
    const name = `connection storm (${cs.label})`;
    add(`${name} ${cs.clients} clients: connections/s`, cs.connectionsPerS, 0);
    add(`${name}: all welcomed, ms`, cs.allWelcomedMs, 0);
    add(`${name}: all in online_users, ms`, cs.allInOnlineSetMs, 0);
    add(`${name}: watcher on other node saw all online, ms`, cs.watcherSawAllMs, 0);
  }
  for (const ps of r.presenceStorms) {
    const name = `presence storm (${ps.label})`;
    add(`${name} ${ps.users} users reconnect to the other node within ~1 s: all back, ms`, ps.reconnectedMs, 0);
    add(`${name}: presence frames per watcher (${ps.watchers} watchers)`, ps.framesPerWatcher, 0);
    add(`${name}: presence frames per watcher per second until views converged`, ps.convergedMs > 0 ? ps.framesPerWatcher / (ps.convergedMs / 1000) : 0, 1);
    add(`${name}: changes per watcher`, ps.changesPerWatcher, 0);
    add(`${name}: views converged, ms after start (0 = never wrong)`, ps.convergedMs, 0);
  }
  for (const h of r.http) {
    add(`HTTP ${h.path}: req/s`, h.reqPerS, 0);
    add(`HTTP ${h.path}: latency p50 ms`, h.p50, 1);
    add(`HTTP ${h.path}: latency p99 ms`, h.p99, 1);
  }
  if (r.scale) {
    add(`scale: idle connections held by one gateway (target ${fmt(r.scale.target, 0)})`, r.scale.held, 0);
    add(`scale: memory per connection at that count, KB`, r.scale.kbPerConn, 2);
  }
  return rows;
}

function joinStormRows(r: RunResults): Row[] {
  return r.joinStorms.flatMap(({ n, by }) => {
    const name = `join storm ${fmt(n, 0)} clients on 2 nodes (connect, join, ack)`;
    const relay = by.uws;
    return [
      { metric: `${name}: all joined, ms (ours: default presence feed)`, values: { ours: by.ours?.joinedMs, uws: relay?.joinedMs }, digits: 0 },
      { metric: `${name}: all joined, ms (ours: clients send watch [] first)`, values: { ours: by['ours-watch-none']?.joinedMs, uws: relay?.joinedMs }, digits: 0 },
      ...(by['ours-listed'] ? [{ metric: `${name}: all joined, ms (ours: PRESENCE_LIST_MAX above the storm, every change listed)`, values: { ours: by['ours-listed'].joinedMs, uws: relay?.joinedMs }, digits: 0 }] : []),
      { metric: `${name}: nodes' CPU per connection, ms (default feed)`, values: { ours: by.ours?.nodeCpuMsPerConn, uws: relay?.nodeCpuMsPerConn }, digits: 3 },
      { metric: `${name}: presence frames per client until all joined (default feed)`, values: { ours: by.ours?.presenceFramesPerClient }, digits: 1, oursOnly: true },
      {
        metric: `${name}: first attempts that failed (abrupt closes), both runs`,
        values: { ours: (by.ours?.retried ?? 0) + (by['ours-watch-none']?.retried ?? 0), uws: relay?.retried }, digits: 0,
      },
    ];
  });
}

function repeatedStormRows(r: RunResults): Row[] {
  const x = r.repeatedStorms;
  if (!x) return [];
  const name = `join storm ${fmt(x.clients, 0)} clients (default feed) repeated ${x.rounds} times on fresh nodes`;
  return [
    { metric: `${name}: first attempts that failed (abrupt closes), all rounds`, values: { ours: x.retried + x.failed }, digits: 0, oursOnly: true },
    { metric: `${name}: all joined, ms, median of rounds`, values: { ours: median(x.joinedMs) }, digits: 0, oursOnly: true },
  ];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function joinStormVerdicts(r: RunResults): Verdict[] {
  const worstRatio = (variant: JoinStormVariant) => {
    const qs = r.joinStorms.filter(({ by }) => by[variant] && by.uws).map(({ n, by }) => ({ n, q: by[variant]!.joinedMs / by.uws!.joinedMs }));
    return qs.sort((a, b) => b.q - a.q)[0];
  };
  const d = (w?: { n: number; q: number }) => (w ? `worst ${w.q.toFixed(2)}x the relay at ${fmt(w.n, 0)} clients` : 'no data');
  const feed = worstRatio('ours');
  const quiet = worstRatio('ours-watch-none');
  return [
    verdict(feed && feed.q <= 2, 'connection storm with the default presence feed within 2x the relay', d(feed)),
    verdict(quiet && quiet.q <= 1.5, 'connection storm with watch [] within 1.5x the relay', d(quiet)),
    verdict(r.repeatedStorms ? r.repeatedStorms.retried + r.repeatedStorms.failed === 0 : undefined, 'no abrupt close across repeated storms',
      r.repeatedStorms ? `${r.repeatedStorms.retried + r.repeatedStorms.failed} in ${r.repeatedStorms.rounds} x ${r.repeatedStorms.clients} clients${r.repeatedStorms.reasons[0] ? `, e.g. ${r.repeatedStorms.reasons[0]}` : ''}` : 'no data'),
  ];
}

function memoryRows(r: RunResults): Row[] {
  const kinds = KINDS.filter((k) => r.memory[k]);
  const n = Math.max(0, ...kinds.map((k) => r.memory[k]!.connections));
  const to = Math.max(0, ...kinds.map((k) => r.memory[k]!.slope?.to ?? 0));
  const of = (f: (m: MemoryResult) => number | undefined) => Object.fromEntries(kinds.map((k) => [k, f(r.memory[k]!)]));
  const rows: Row[] = [
    { metric: `memory per idle connection, KB: RSS delta over ${fmt(n, 0)} connections on one node`, values: of((m) => m.kbPerConn), digits: 2 },
    { metric: 'memory per idle connection, KB: the same after a full GC in the server', values: of((m) => m.kbPerConnAfterGc), digits: 2 },
  ];
  if (to > 0) {
    rows.push(
      { metric: `marginal memory per idle connection, KB: RSS slope ${fmt(n, 0)} -> ${fmt(to, 0)} connections`, values: of((m) => m.slope?.kbPerConn), digits: 2 },
      { metric: 'marginal memory per idle connection, KB: the same slope after a full GC', values: of((m) => m.slope?.kbPerConnAfterGc), digits: 2 },
    );
  }
  return rows;
}

export function table(r: RunResults): string {
  const rows = [...fanoutRows(r), ...joinStormRows(r), ...repeatedStormRows(r), ...memoryRows(r), ...oursOnlyRows(r)];
  const head = `| metric | ${KINDS.map((k) => LABELS[k]).join(' | ')} | ours ÷ uWS relay | ours ÷ Socket.IO |`;
  const sep = `|---|${KINDS.map(() => '---:').join('|')}|---:|---:|`;
  const body = rows.map((row) => {
    const cells = KINDS.map((k) => (row.oursOnly && k !== 'ours' ? 'n/a' : fmt(row.values[k], row.digits)));
    const ratios = row.oursOnly ? ['ours only', ''] : [ratio(row.values.ours, row.values.uws), ratio(row.values.ours, row.values.socketio)];
    return `| ${row.metric} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`;
  });
  return [head, sep, ...body].join('\n');
}


/** The worst ours÷peer ratio of a fan-out metric over all scenarios. */
function worst(r: RunResults, peer: ServerKind, f: (x: FanoutResult) => number) {
  let found: { ratio: number; spec: FanoutSpec; ours: number; peer: number } | undefined;
  for (const { spec, by } of r.fanout) {
    if (!by.ours || !by[peer]) continue;
    const q = f(by.ours) / f(by[peer]!);
    if (!found || q > found.ratio) found = { ratio: q, spec, ours: f(by.ours), peer: f(by[peer]!) };
  }
  return found;
}

function cpuVerdicts(r: RunResults): Verdict[] {
  const relay = worst(r, 'uws', (x) => x.cpuUsPerMsg);
  const sio = worst(r, 'socketio', (x) => x.cpuUsPerMsg);
  const d = (w: typeof relay, peer: string) => (w
    ? `worst ${w.ratio.toFixed(2)}x at ${scenarioName(w.spec)} (ours ${w.ours.toFixed(2)} µs, ${peer} ${w.peer.toFixed(2)} µs)` : 'no data');
  return [
    verdict(relay && relay.ratio <= 1.3, 'CPU per delivered message within 1.3x of the uWS relay', d(relay, 'relay')),
    verdict(sio && sio.ratio <= 0.5, 'CPU per delivered message at least 2x better than Socket.IO', d(sio, 'Socket.IO')),
  ];
}

function memoryVerdicts(r: RunResults): Verdict[] {
  const { ours, uws, socketio } = r.memory;
  const gc = (m: MemoryResult) => (m.kbPerConnAfterGc === undefined ? '' : `, ${m.kbPerConnAfterGc.toFixed(2)} after GC`);
  const d = (peer: MemoryResult | undefined, name: string) => (ours && peer
    ? `${(ours.kbPerConn / peer.kbPerConn).toFixed(2)}x RSS (ours ${ours.kbPerConn.toFixed(2)} KB${gc(ours)}; ${name} ${peer.kbPerConn.toFixed(2)} KB${gc(peer)})` : 'no data');
  const slope = ours?.slope;
  const relayGc = uws?.slope?.kbPerConnAfterGc;
  return [
    verdict(ours && uws ? ours.kbPerConn <= 2 * uws.kbPerConn : undefined, 'memory per idle connection within 2x of the uWS relay', d(uws, 'relay')),
    verdict(ours && socketio ? ours.kbPerConn * 3 <= socketio.kbPerConn : undefined, 'memory per idle connection at least 3x better than Socket.IO', d(socketio, 'Socket.IO')),
    verdict(slope ? slope.kbPerConn <= 4 : undefined, 'marginal memory per idle connection at most 4 KB',
      slope ? `${slope.kbPerConn.toFixed(2)} KB (${fmt(ours!.connections, 0)} -> ${fmt(slope.to, 0)})` : 'no data'),
    verdict(slope?.kbPerConnAfterGc !== undefined && relayGc !== undefined ? slope.kbPerConnAfterGc <= 2 * relayGc : undefined,
      'marginal memory after a full GC within 2x of the uWS relay',
      slope?.kbPerConnAfterGc !== undefined && relayGc !== undefined ? `${(slope.kbPerConnAfterGc / relayGc).toFixed(2)}x (ours ${slope.kbPerConnAfterGc.toFixed(2)} KB; relay ${relayGc.toFixed(2)} KB)` : 'no data'),
  ];
}

function latencyVerdict(r: RunResults): Verdict {
  const exact = r.fanout.find((f) => f.spec.subscribers === 1000 && f.spec.rate === 50);
  const run = exact ?? r.fanout[0];
  if (!run?.by.ours || !run.by.uws) return verdict(undefined, 'fan-out p99 no worse than the relay +20%', 'no data');
  const { ours, uws } = run.by as Required<typeof run.by>;
  const note = exact ? '' : ` (this run had no 1,000 × 50/s scenario; measured at ${scenarioName(run.spec)})`;
  return verdict(ours.p99 <= uws.p99 * 1.2, 'fan-out p99 at 1,000 subscribers and 50 msgs/s no worse than the relay +20%',
    `ours ${ours.p99.toFixed(2)} ms vs relay ${uws.p99.toFixed(2)} ms = ${(ours.p99 / uws.p99).toFixed(2)}x${note}`);
}

function scaleVerdict(r: RunResults): Verdict {
  const s = r.scale;
  if (!s) return verdict(undefined, '50,000 concurrent connections on one gateway', r.scaleSkipped ?? 'not run');
  const cap = s.cappedBy ? `; capped by ${s.cappedBy}` : '';
  return verdict(s.held >= s.target, `${s.target.toLocaleString('en-US')} concurrent connections on one gateway`,
    `held ${s.held.toLocaleString('en-US')} of ${s.attempted.toLocaleString('en-US')} attempted (${s.failed} failed${s.firstError ? `: ${s.firstError}` : ''})${cap}`);
}

function jitterVerdict(r: RunResults): Verdict {
  const x = r.jitter.find((j) => j.mode === 'exact');
  if (!x) return verdict(undefined, 'recovery under jitter: every message once, in order', 'not run');
  const pct = x.expected === 0 ? 0 : (100 * x.delivered) / x.expected;
  return verdict(x.delivered === x.expected && x.duplicates === 0 && x.orderBreaks === 0 && x.catchUp.p99 <= 20,
    'recovery under jitter: 100% delivered, 0 duplicates, 0 order breaks, catch-up p99 ≤ 20 ms',
    `${pct.toFixed(3)}% of ${x.expected.toLocaleString('en-US')} over ${x.drops} drops, ${x.duplicates} duplicates, ${x.orderBreaks} order breaks, p99 ${x.catchUp.p99.toFixed(1)} ms`);
}

export function verdicts(r: RunResults): Verdict[] {
  return [...cpuVerdicts(r), ...joinStormVerdicts(r), ...memoryVerdicts(r), latencyVerdict(r), scaleVerdict(r), jitterVerdict(r), bundleVerdict(r.bundles), ...fallbackVerdicts(r.fallback)];
}

/** Generator and machine warnings from the fan-out runs. */
export function notes(r: RunResults): string[] {
  const out: string[] = [];
  for (const { spec, by } of r.fanout) {
    for (const k of KINDS) {
      const x = by[k];
      if (x && x.notes.length > 0) out.push(`${LABELS[k]}, ${scenarioName(spec)}: ${x.notes.join('; ')} (busiest generator ${x.generatorCpuPct.toFixed(0)}%, busiest server ${x.serverCpuPct.toFixed(0)}% of a core)`);
    }
  }
  for (const { n, by } of r.joinStorms) {
    for (const [variant, x] of Object.entries(by)) {
      if (x?.firstRetryReason) out.push(`join storm ${n} (${variant}): ${x.retried} first attempts failed, e.g. ${x.firstRetryReason}`);
    }
  }
  for (const cs of r.connectionStorms) {
    if (cs.failed) out.push(`connection storm (${cs.label}): ${cs.failed} of ${cs.clients} clients failed to connect`);
  }
  for (const ps of r.presenceStorms) {
    if (ps.failed > 0) out.push(`presence storm (${ps.label}): ${ps.failed} of ${ps.users} reconnects failed (${ps.firstError}); the views were checked against the users that came back`);
  }
  for (const h of r.http) {
    if (h.failures > 0) out.push(`HTTP ${h.path}: ${h.failures} failed requests (non-2xx, errors, timeouts)`);
    if (h.generatorCpuPct > 90) out.push(`HTTP ${h.path}: autocannon saturated its core (${h.generatorCpuPct.toFixed(0)}%): the figure is a floor`);
  }
  return out.concat(r.errors);
}
