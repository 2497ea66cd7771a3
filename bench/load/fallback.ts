/**
 * The HTTP streaming fallback beside the WebSocket, in the same run, on our gateway (default
 * settings but API_KEYS for the backend and CONNECT_BURST 100; one private redis-server):
 *
 * (a) CPU per delivered message: N subscribers of one action on one node, raw clients (`ws`
 *     sockets, or node:http event streams whose frames are POSTed: the generator's own CPU stays
 *     low), a backend publishing R msgs/s for S s through POST /api/publish of that node, or of a
 *     second node (the frames then reach the subscribers' node over the bus: another write path,
 *     see RESULTS.md); the subscribers' node's utime+stime from /proc over the window, divided by
 *     the messages the subscribers got. Rounds alternate the transports (ws, http, ws, http...),
 *     each on fresh subscribers; the median is reported.
 * (b) Memory per idle connection: on a fresh node per transport, RSS after a full GC (through the
 *     inspector) at a first and a second count of idle connections that joined one action and
 *     asked for no presence (`watch []`); the slope between the two, per connection.
 * (c) Time to fall back: the client package (RealtimeClient, `ws` as its WebSocket) connect() →
 *     welcome through a loopback proxy that passes /http/* (and everything but upgrades) to the
 *     gateway and answers every upgrade 403 ("refused"), or accepts it and never answers
 *     ("hanging", the client's fallbackAfterMs, 3 s by default); beside a WebSocket straight to the
 *     node and HTTP forced (`transports: ['http']`).
 *
 * Each raw client connects from its own loopback address (127.x.y.z), as the load agents do, so
 * the per-address limits (the fallback's POSTs: 50 a second per address) see many clients, not one.
 * Every loop is bounded in count and time.
 */
import { collectGarbage } from './memory.js';
import { ACTION, closeAll, openMany, type Sub, type Transport } from './fallback-clients.js';
import { connectTimes, type ConnectTimes } from './fallback-connect.js';
import { busyFraction, cpuTimes, machineTicks, rssBytes, sleep, until, type RedisServer, type ServerProcess } from './procs.js';
import { median, percentile } from './stats.js';
import { verdict, type Verdict } from './verdict.js';
import { startCluster, type Cluster } from './targets.js';

export interface FallbackSpec {
  /** Subscribers per CPU round. */
  subscribers: number;
  /** Messages per second from the backend, and for how long. */
  rate: number;
  seconds: number;
  /** CPU rounds per transport (interleaved), the backend publishing through the subscribers' node. */
  rounds: number;
  /** CPU rounds per transport with the backend publishing through the other node (the frames reach the subscribers' node over the bus). */
  busRounds: number;
  /** Idle connections: the first count and the second (the slope is between them). */
  idle: [number, number];
  /** connect() → welcome runs: straight WebSocket, forced HTTP, refused upgrade (each one after another), hanging upgrade (all at once). */
  connectRuns: number;
  hangRuns: number;
}

export const FALLBACK_FULL: FallbackSpec = { subscribers: 500, rate: 50, seconds: 6, rounds: 2, busRounds: 1, idle: [500, 1500], connectRuns: 20, hangRuns: 10 };
export const FALLBACK_QUICK: FallbackSpec = { subscribers: 200, rate: 40, seconds: 4, rounds: 1, busRounds: 1, idle: [200, 600], connectRuns: 10, hangRuns: 5 };

/** Where the backend publishes: the node the subscribers are on, or the other one (over the bus). */
export type PublishPath = 'local' | 'bus';

export type { Transport };

export interface CpuRound {
  transport: Transport;
  path: PublishPath;
  published: number;
  delivered: number;
  expected: number;
  /** Gateway CPU (user + system) per delivered message, and its system part, µs. */
  usPerMsg: number;
  sysUsPerMsg: number;
  /** The gateway's and this generator's CPU over the window, % of one core; the machine's, % of all cores. */
  gatewayPct: number;
  generatorPct: number;
  machinePct: number;
}

export interface MemoryRun {
  transport: Transport;
  counts: [number, number];
  /** RSS after a full GC: before any connection, at the first count, at the second; bytes. */
  rss: [number, number, number];
  /** (rss at the second count − rss at the first) ÷ (second − first), KB. */
  kbPerConn: number;
  /** Same without the GC (RSS as the host sees it, 2 s after the last open). */
  kbPerConnNoGc: number;
  gc: boolean;
}

export interface FallbackResult {
  spec: FallbackSpec;
  cpu: CpuRound[];
  memory: MemoryRun[];
  connect: ConnectTimes;
  /** Transport each case ended on (a case whose clients did not all end on the expected one is noted). */
  notes: string[];
}

const API_KEY = 'bench-fallback-api-key-0123456789abcdef';


async function publishFor(http: string, rate: number, seconds: number, data: string): Promise<number> {
  const start = performance.now();
  const end = start + seconds * 1000;
  let sent = 0;
  for (let k = 0; performance.now() < end && k < rate * seconds + 1; k += 1) {
    const due = start + (k * 1000) / rate;
    if (due > performance.now()) await sleep(due - performance.now());
    const res = await fetch(`${http}/api/publish`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action: ACTION, data }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`publish answered ${res.status}`);
    sent += 1;
  }
  return sent;
}

let rounds = 0;

/** One CPU round: fresh subscribers of `t` on `node`, the backend publishing through `http`, /proc of `node` before and after. */
async function cpuRound(t: Transport, path: PublishPath, node: ServerProcess, http: string, spec: FallbackSpec): Promise<CpuRound> {
  rounds += 1;
  const subs = await openMany(t, node.port, spec.subscribers, `cpu${rounds}${t}-`, true);
  try {
    await sleep(1000); // presence and join traffic settles
    for (const s of subs) s.got = 0;
    const c0 = cpuTimes(node.pid);
    const g0 = process.cpuUsage();
    const m0 = machineTicks();
    const t0 = performance.now();
    const published = await publishFor(http, spec.rate, spec.seconds, 'x'.repeat(100));
    const expected = published * subs.length;
    const delivered = () => subs.reduce((a, s) => a + s.got, 0);
    await until('every subscriber has every message', () => delivered() >= expected, 10_000, 20).catch(() => undefined);
    const wall = performance.now() - t0;
    const c1 = cpuTimes(node.pid);
    const g1 = process.cpuUsage(g0);
    const got = delivered();
    const cpu = c1.user + c1.sys - c0.user - c0.sys;
    return {
      transport: t, path, published, delivered: got, expected,
      usPerMsg: cpu / Math.max(1, got), sysUsPerMsg: (c1.sys - c0.sys) / Math.max(1, got),
      gatewayPct: (100 * cpu) / (wall * 1000), generatorPct: (100 * (g1.user + g1.system)) / (wall * 1000),
      machinePct: 100 * busyFraction(m0, machineTicks()),
    };
  } finally {
    closeAll(subs);
  }
}

/** Idle connections of `t` on a fresh node: RSS (after a full GC) at 0, the first and the second count. */
async function memoryRun(t: Transport, redis: RedisServer, counts: [number, number]): Promise<MemoryRun> {
  const cluster = await startCluster('ours', redis, 1, { env: gatewayEnv(), nofile: counts[1] + 2000 });
  const node = cluster.nodes[0];
  const subs: Sub[] = [];
  try {
    // A warm-up: the connect path's code and pools are not charged to the connections.
    closeAll(await openMany(t, node.port, 50, `warm${t}-`, true));
    await sleep(1500);
    const measure = async () => {
      await sleep(2000);
      const plain = rssBytes(node.pid);
      const gc = await collectGarbage(node);
      if (gc) await sleep(500);
      return { plain, rss: rssBytes(node.pid), gc };
    };
    const base = await measure();
    subs.push(...(await openMany(t, node.port, counts[0], `idle${t}a-`, true)));
    const first = await measure();
    subs.push(...(await openMany(t, node.port, counts[1] - counts[0], `idle${t}b-`, true)));
    const second = await measure();
    const n = counts[1] - counts[0];
    return {
      transport: t, counts, rss: [base.rss, first.rss, second.rss], gc: first.gc && second.gc,
      kbPerConn: (second.rss - first.rss) / n / 1024, kbPerConnNoGc: (second.plain - first.plain) / n / 1024,
    };
  } finally {
    closeAll(subs);
    await cluster.stop();
  }
}

const gatewayEnv = () => ({ API_KEYS: API_KEY, CONNECT_BURST: '100' });

/** The three measurements; `log` says which phase runs (stderr). */
export async function runFallback(redis: RedisServer, spec: FallbackSpec, log: (msg: string) => void = () => {}): Promise<FallbackResult> {
  const result: FallbackResult = { spec, cpu: [], memory: [], connect: { direct: [], forced: [], refused: [], hanging: [] }, notes: [] };
  for (const t of ['ws', 'http'] as const) {
    log(`fallback: memory, ${spec.idle.join(' then ')} idle ${t === 'ws' ? 'WebSockets' : 'HTTP streams'} on a fresh node`);
    result.memory.push(await memoryRun(t, redis, spec.idle));
  }
  // Two nodes: the subscribers on the first; the backend publishes through it, or through the second.
  const cluster: Cluster = await startCluster('ours', redis, 2, { env: gatewayEnv(), nofile: spec.subscribers * 2 + 2000 });
  try {
    const node = cluster.nodes[0];
    const plan: Array<[PublishPath, number]> = [['local', spec.rounds], ['bus', spec.busRounds]];
    for (const [path, rounds] of plan) {
      for (let round = 1; round <= rounds; round += 1) {
        for (const t of ['ws', 'http'] as const) {
          const what = `${t}, publishing through ${path === 'local' ? 'the same node' : 'the other node'}, round ${round}/${rounds}`;
          log(`fallback: CPU, ${spec.subscribers} subscribers × ${spec.rate}/s for ${spec.seconds} s: ${what}`);
          const r = await cpuRound(t, path, node, cluster.http[path === 'local' ? 0 : 1], spec);
          if (r.delivered < r.expected) result.notes.push(`${what}: delivered ${r.delivered} of ${r.expected}`);
          if (r.machinePct > 90) result.notes.push(`${what}: machine CPU saturated (${r.machinePct.toFixed(0)}% of all cores)`);
          result.cpu.push(r);
          await sleep(500);
        }
      }
    }
    log(`fallback: connect() → welcome, ${spec.connectRuns} runs each, ${spec.hangRuns} through a hanging proxy`);
    result.connect = await connectTimes(node, spec, result.notes);
  } finally {
    await cluster.stop();
  }
  return result;
}

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }) : '—');

/** Median CPU figures of each transport's rounds on `path`. */
export function cpuSummary(r: FallbackResult, path: PublishPath = 'local') {
  const of = (t: Transport) => {
    const rs = r.cpu.filter((c) => c.transport === t && c.path === path);
    return {
      rounds: rs.length, usPerMsg: median(rs.map((c) => c.usPerMsg)), sysUsPerMsg: median(rs.map((c) => c.sysUsPerMsg)),
      gatewayPct: median(rs.map((c) => c.gatewayPct)), generatorPct: median(rs.map((c) => c.generatorPct)), machinePct: median(rs.map((c) => c.machinePct)),
      delivered: rs.reduce((a, c) => a + c.delivered, 0), expected: rs.reduce((a, c) => a + c.expected, 0),
    };
  };
  return { ws: of('ws'), http: of('http') };
}

/** Target lines: fallback CPU per message ≤ 1.5x the WebSocket's; a refused upgrade falls back within 3 s (max). */
export function fallbackVerdicts(r: FallbackResult | undefined): Verdict[] {
  const cpuWhat = `fallback gateway CPU per delivered message ≤ 1.5x the WebSocket's (published on the subscribers' node)`;
  const fbWhat = 'connect() → welcome when the upgrade is refused ≤ 3 s (max)';
  if (!r) return [verdict(undefined, cpuWhat, 'no data'), verdict(undefined, fbWhat, 'no data')];
  const { ws, http } = cpuSummary(r, 'local');
  const bus = cpuSummary(r, 'bus');
  const ratio = http.usPerMsg / ws.usPerMsg;
  const busRatio = bus.http.usPerMsg / bus.ws.usPerMsg;
  const cpuPass = Number.isFinite(ratio) ? ratio <= 1.5 : undefined;
  const refusedMax = r.connect.refused.length ? Math.max(...r.connect.refused) : NaN;
  const fbPass = Number.isFinite(refusedMax) ? refusedMax <= 3000 : undefined;
  return [
    verdict(cpuPass, cpuWhat, `${f(http.usPerMsg, 2)} µs vs ${f(ws.usPerMsg, 2)} µs = ${f(ratio, 2)}x (published on the other node: ${f(busRatio, 2)}x)`),
    verdict(fbPass, fbWhat, `p50 ${f(percentile(r.connect.refused, 0.5), 0)} ms, max ${f(refusedMax, 0)} ms`),
  ];
}

export function formatFallback(r: FallbackResult): string {
  const s = r.spec;
  const local = cpuSummary(r, 'local');
  const bus = cpuSummary(r, 'bus');
  const mem = (t: Transport) => r.memory.find((m) => m.transport === t);
  const [mw, mh] = [mem('ws'), mem('http')];
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}x` : '—');
  const times = (xs: number[]) => (xs.length ? `${f(percentile(xs, 0.5), 0)} / ${f(Math.max(...xs), 0)}` : '—');
  const n = (x: number) => x.toLocaleString('en-US');
  const cpuRows = (name: string, c: ReturnType<typeof cpuSummary>) => c.ws.rounds === 0 && c.http.rounds === 0 ? [] : [
    `| ${name}: gateway CPU µs per delivered message | ${f(c.ws.usPerMsg, 2)} | ${f(c.http.usPerMsg, 2)} | ${ratio(c.http.usPerMsg, c.ws.usPerMsg)} |`,
    `| … of which kernel (system time) µs | ${f(c.ws.sysUsPerMsg, 2)} | ${f(c.http.sysUsPerMsg, 2)} | ${ratio(c.http.sysUsPerMsg, c.ws.sysUsPerMsg)} |`,
    `| … gateway / generator CPU while publishing, % of a core | ${f(c.ws.gatewayPct, 0)} / ${f(c.ws.generatorPct, 0)} | ${f(c.http.gatewayPct, 0)} / ${f(c.http.generatorPct, 0)} | |`,
    `| … messages delivered of expected (rounds) | ${n(c.ws.delivered)} of ${n(c.ws.expected)} (${c.ws.rounds}) | ${n(c.http.delivered)} of ${n(c.http.expected)} (${c.http.rounds}) | |`,
  ];
  const lines = [
    `HTTP streaming fallback beside the WebSocket (raw clients, each from its own loopback address). CPU: ${n(s.subscribers)} subscribers of one action on one node,`,
    `a backend publishing ${s.rate} msgs/s of 100 B for ${s.seconds} s through POST /api/publish of that node (median of ${s.rounds}) or of a second node (over the bus, median of ${s.busRounds}),`,
    'rounds interleaved ws, http; memory: a fresh node per transport; connect: the client package through a loopback proxy.',
    '',
    '| | WebSocket | HTTP fallback | fallback ÷ WebSocket |',
    '|---|---:|---:|---:|',
    ...cpuRows('published on the same node', local),
    ...cpuRows('published on the other node', bus),
    `| RSS per idle connection, KB, after a full GC (slope ${n(s.idle[0])} → ${n(s.idle[1])}) | ${f(mw?.kbPerConn ?? NaN)} | ${f(mh?.kbPerConn ?? NaN)} | ${ratio(mh?.kbPerConn, mw?.kbPerConn)} |`,
    `| … without the GC | ${f(mw?.kbPerConnNoGc ?? NaN)} | ${f(mh?.kbPerConnNoGc ?? NaN)} | ${ratio(mh?.kbPerConnNoGc, mw?.kbPerConnNoGc)} |`,
    '',
    '| connect() → welcome (the client package, `ws` in Node), ms | runs | p50 / max |',
    '|---|---:|---:|',
    `| WebSocket straight to the node | ${r.connect.direct.length} | ${times(r.connect.direct)} |`,
    `| HTTP forced (\`transports: ['http']\`) | ${r.connect.forced.length} | ${times(r.connect.forced)} |`,
    `| upgrade refused (403) by a proxy: fallback | ${r.connect.refused.length} | ${times(r.connect.refused)} |`,
    `| upgrade hanging at a proxy: fallback after fallbackAfterMs (3 s; all at once) | ${r.connect.hanging.length} | ${times(r.connect.hanging)} |`,
  ];
  if (r.notes.length) lines.push('', 'Notes:', ...r.notes.map((x) => `  - ${x}`));
  return lines.join('\n');
}
