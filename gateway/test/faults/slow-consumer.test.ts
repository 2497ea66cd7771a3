/**
 * A client that stops reading must cost the gateway a bounded amount of memory and must not
 * slow anyone else down: its socket is closed with 4008 (slow consumer) while the other
 * members of the action receive every message of a flood, in order, at the publisher's pace.
 * The stalled client is real: its TCP socket is paused, so kernel buffers fill first and
 * then uWebSockets.js's send buffer (MAX_BACKPRESSURE_BYTES) does.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, MB, metric, rssBytes, rssSampler } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const BACKPRESSURE = 256 * 1024;
const RATE = 4000; // frames per second allowed to the publisher
const PAD = 'x'.repeat(1000); // ~1 KB messages
const MAX_MESSAGES = 40_000; // 40 MB per reader at most
const MAX_FLOOD_MS = 15_000;
let cluster: Cluster;
let gw: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'slow', {
    nodes: 1,
    env: { PRESENCE_GRACE_MS: '0', MAX_BACKPRESSURE_BYTES: String(BACKPRESSURE), MSG_RATE_PER_S: String(RATE), MSG_BURST: String(RATE), LOG_LEVEL: 'info' },
  });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

/** A member of `flood` that only counts messages and checks their order (no JSON parsing of 1 KB frames). */
async function reader(userId: string) {
  const ws = new WebSocket(`${gw.url}?token=${await fx.mint(userId)}`);
  const r = { ws, count: 0, outOfOrder: 0, lastAt: 0, closed: undefined as number | undefined };
  let joined: () => void;
  const ack = new Promise<void>((resolve) => (joined = resolve));
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"welcome"')) ws.send(JSON.stringify({ type: 'join', action: 'flood', id: 'j' }));
    else if (text.startsWith('{"type":"ack"')) joined();
    else if (text.startsWith('{"type":"message"')) {
      const n = Number(/"n":(\d+)/.exec(text)?.[1]);
      if (n !== r.count) r.outOfOrder += 1;
      r.count += 1;
      r.lastAt = Date.now();
    }
  });
  ws.on('close', (code) => (r.closed = code));
  await ack;
  return r;
}

it('closes a stalled reader with 4008, keeps RSS bounded, and delivers every message to the others at full speed', async () => {
  const publisher = await fx.connect(gw, 'flooder');
  expect(await publisher.request({ type: 'join', action: 'flood' })).toMatchObject({ type: 'ack' });
  const readers = await Promise.all(['r1', 'r2', 'r3'].map(reader));
  const stalled = await reader('stalled');
  (stalled.ws as any)._socket.pause(); // stop reading: the kernel buffers fill, then the gateway's

  const pid = gw.proc.pid!;
  const baseline = rssBytes(pid);
  const sampler = rssSampler(pid);
  const started = Date.now();
  let sent = 0;
  let closedAt = 0;
  // Paced at the rate limit, in 50 ms slices; runs until the stalled socket was closed and
  // one more second of traffic passed, bounded in count and time.
  while (sent < MAX_MESSAGES && Date.now() - started < MAX_FLOOD_MS) {
    const slice = Date.now();
    for (let i = 0; i < RATE / 20; i += 1) {
      publisher.ws.send(`{"type":"publish","action":"flood","data":{"n":${sent},"pad":"${PAD}"}}`);
      sent += 1;
    }
    if (sent % RATE === 0 && !closedAt && (await metric(gw, 'gateway_slow_consumer_closes_total')) >= 1) closedAt = Date.now();
    if (closedAt && Date.now() - closedAt > 1000) break;
    await new Promise((r) => setTimeout(r, Math.max(0, 50 - (Date.now() - slice))));
  }
  const floodMs = Date.now() - started;
  await waitFor('every reader got every message', () => readers.every((r) => r.count === sent), 10_000, 50);
  const peak = sampler.stop();
  const lag = Math.max(...readers.map((r) => r.lastAt)) - (started + floodMs);
  console.log(
    `flood: ${sent} messages of ~1 KB in ${floodMs} ms (${Math.round((sent * 1000) / floodMs)}/s) to 3 readers + 1 stalled; ` +
      `4008 after ${closedAt - started} ms; last delivery ${lag} ms after the last publish; ` +
      `gateway RSS baseline ${(baseline / MB).toFixed(1)} MB, peak ${(peak / MB).toFixed(1)} MB (+${((peak - baseline) / MB).toFixed(1)} MB)`,
  );

  expect(closedAt, 'the stalled socket was closed as a slow consumer').toBeGreaterThan(0);
  expect(await metric(gw, 'gateway_slow_consumer_closes_total')).toBe(1);
  // Bound: the capped send buffer (256 KB) is noise next to V8's working set under a flood;
  // 64 MB over the baseline leaves room for garbage not yet collected, never for a backlog of MBs per reader.
  expect(peak - baseline).toBeLessThan(64 * MB);
  for (const r of readers) {
    expect(r.count).toBe(sent);
    expect(r.outOfOrder).toBe(0);
    expect(r.closed).toBeUndefined();
  }
  expect(lag, 'readers kept pace with the publisher').toBeLessThan(2000);
  expect(publisher.frames.filter((f) => f.type === 'error')).toEqual([]);

  // The stalled client, once it reads again, finds its connection closed.
  (stalled.ws as any)._socket.resume();
  await waitFor('stalled client sees the close', () => stalled.closed !== undefined, 10_000);
  console.log(`stalled client saw close code ${stalled.closed} after resuming; it had read ${stalled.count} messages`);
  expect([4008, 1006]).toContain(stalled.closed);
  expect(stalled.count).toBeLessThan(sent);
  for (const r of readers) r.ws.close();
}, 60_000);
