/**
 * Hostile WebSocket input from many connections at once: random text, invalid UTF-8, deep
 * nesting, huge numbers, `__proto__` keys, binary frames, unknown types, wrong field types,
 * oversize frames and protocol violations, from a seeded generator (FUZZ_SEED replays a run,
 * FUZZ_FRAMES sets the volume). The gateway must stay up with bounded memory, answer every
 * frame that carries an id exactly once with a code from the protocol table (never `internal`),
 * log no handler failure, and keep serving a well-behaved client throughout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ErrorCodes } from '../../../shared/protocol.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { alive, FAULTS_ENV, gatewayFixture, MB, rssBytes, rssSampler } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';
import { fuzzFrame, mulberry32, type FuzzFrame, type Rng } from './fuzz-frames.js';
import { RawSocket } from './raw-ws.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const TOTAL = Number(process.env.FUZZ_FRAMES ?? 6000);
const WORKERS = 20;
const BATCH = 25;
const MAX_PAYLOAD = 16 * 1024;
let cluster: Cluster;
let gw: GatewayProcess;

beforeAll(async () => {
  console.log(`fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  cluster = await startCluster(fx, 'fuzz', {
    nodes: 1,
    env: { MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), MSG_RATE_PER_S: '5000', MSG_BURST: '5000', LOG_LEVEL: 'info' },
  });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

interface Tally { sent: number; fatal: number; reconnects: number; unanswered: string[]; duplicate: string[]; codes: Record<string, number>; kinds: Record<string, number> }

async function open(user: string): Promise<RawSocket> {
  const raw = await RawSocket.open(gw.port, `/ws?token=${await fx.mint(user)}`);
  if (!(await raw.nextJson((m) => m.type === 'welcome'))) throw new Error('no welcome');
  return raw;
}

/** One connection's share: batches of frames, each closed by a ping that proves the batch was processed. */
async function worker(w: number, r: Rng, frames: number, t: Tally): Promise<void> {
  let raw = await open(`fuzz-${w}`);
  for (let n = 0; n < frames; n += BATCH) {
    const mark = raw.frames.length;
    const batch: FuzzFrame[] = [];
    for (let i = n; i < Math.min(frames, n + BATCH); i += 1) batch.push(fuzzFrame(r, i, MAX_PAYLOAD));
    for (const f of batch) {
      raw.send({ opcode: f.opcode, payload: f.payload, rsv: f.rsv });
      t.sent += 1;
      t.kinds[f.kind] = (t.kinds[f.kind] ?? 0) + 1;
    }
    const sync = `sync${n}`;
    raw.send({ opcode: 1, payload: JSON.stringify({ type: 'ping', id: sync }) });
    const fatal = batch.find((f) => f.fatal);
    if (fatal) {
      // The connection ends; the frames before the fatal one may or may not have been answered.
      expect((await raw.ending(5000)).kind, `a ${fatal.kind} frame must end the connection`).not.toBe('open');
      t.fatal += 1;
      raw.destroy();
      raw = await open(`fuzz-${w}`);
      t.reconnects += 1;
      continue;
    }
    if (!(await raw.nextJson((m) => m.type === 'pong' && m.id === sync, 5000))) {
      const ending = await raw.ending(0);
      throw new Error(`batch ${n} of worker ${w} not processed (connection ${ending.kind}); batch: ${JSON.stringify(batch.map((f) => [f.kind, f.payload.toString().slice(0, 80)]))}; replies: ${JSON.stringify(raw.texts(mark).slice(-3))}`);
    }
    // Commands that wait on Redis (join, watch, online, publish...) may be answered after the ping.
    const ids = batch.filter((f) => f.id).map((f) => f.id);
    const answered = () => {
      const got = new Set(raw.texts(mark).map((m) => m.id));
      return ids.every((id) => got.has(id));
    };
    await waitFor(`batch ${n} of worker ${w} answered`, answered, 3000).catch(() => {});
    const replies = raw.texts(mark);
    for (const m of replies) if (m.type === 'error') t.codes[m.code] = (t.codes[m.code] ?? 0) + 1;
    for (const f of batch) {
      if (!f.id) continue;
      const got = replies.filter((m) => m.id === f.id).length;
      if (got === 0) t.unanswered.push(`${f.kind}: ${f.payload.toString().slice(0, 120)}`);
      if (got > 1) t.duplicate.push(`${f.kind}: ${f.payload.toString().slice(0, 120)}`);
    }
  }
  raw.destroy();
}

it(`survives ${TOTAL} hostile frames from ${WORKERS} connections and keeps serving a well-behaved client`, async () => {
  const good = await fx.connect(gw, 'fuzz-good');
  const peer = await fx.connect(gw, 'fuzz-peer');
  for (const c of [good, peer]) await c.request({ type: 'join', action: 'calm' });
  const pid = gw.proc.pid!;
  const baseline = rssBytes(pid);
  const sampler = rssSampler(pid);

  // The well-behaved client pings every 100 ms during the fuzz and records each round trip.
  const rtts: number[] = [];
  let fuzzing = true;
  const prober = (async () => {
    for (let i = 0; fuzzing; i += 1) {
      const t0 = Date.now();
      good.send({ type: 'ping', id: `probe${i}` });
      await good.next((f) => f.type === 'pong' && f.id === `probe${i}`, 3000);
      rtts.push(Date.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  const t: Tally = { sent: 0, fatal: 0, reconnects: 0, unanswered: [], duplicate: [], codes: {}, kinds: {} };
  const started = Date.now();
  await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w, mulberry32(SEED + w), Math.ceil(TOTAL / WORKERS), t)));
  const fuzzMs = Date.now() - started;
  fuzzing = false;
  await prober;
  const peak = sampler.stop();

  console.log(
    `fuzz: ${t.sent} frames in ${fuzzMs} ms over ${WORKERS} connections (+${t.reconnects} reconnects after ${t.fatal} fatal frames); ` +
      `kinds ${JSON.stringify(t.kinds)}; error codes ${JSON.stringify(t.codes)}; well-behaved ping max ${Math.max(...rtts)} ms over ${rtts.length} probes; ` +
      `RSS baseline ${(baseline / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB`,
  );
  expect(t.sent).toBeGreaterThanOrEqual(TOTAL);
  const failures = gw.logs.filter((l) => /"level":(50|60)/.test(l));
  expect(failures, 'error-level log lines').toEqual([]);
  expect(t.unanswered, 'frames with an id that got no answer').toEqual([]);
  expect(t.duplicate, 'frames with an id answered twice').toEqual([]);
  for (const code of Object.keys(t.codes)) expect(Object.keys(ErrorCodes)).toContain(code);
  expect(t.codes.internal ?? 0).toBe(0);
  expect(t.codes.unavailable ?? 0, 'a handler failed (answered "unavailable" while Redis is up)').toBe(0);
  expect(await alive(gw)).toBe(true);
  expect(peak - baseline).toBeLessThan(64 * MB);

  // The well-behaved pair still works end to end.
  expect(Math.max(...rtts)).toBeLessThan(1000);
  expect(await good.request({ type: 'publish', action: 'calm', data: { after: 'fuzz' } })).toMatchObject({ type: 'ack' });
  expect((await peer.next((f) => f.type === 'message' && f.action === 'calm')).data).toEqual({ after: 'fuzz' });
  expect(good.closed).toBeUndefined();
}, 60_000);
