/**
 * A hostile webhook receiver against a real gateway process, the way a security review found
 * it: the deliverer read the whole answer (a 600 MB body took a node to 1.9 GB RSS), let fetch
 * inflate a gzip bomb, and followed a 307 to re-POST the signed batch to another host.
 * Promise: a receiver's answer costs the node a few KB whatever it is (RSS stays within
 * RSS_BOUND of where it was, the rest of the body is never read), deliveries go on, and the
 * signed batch goes to WEBHOOK_URL only; a 3xx is a failed delivery, retried there.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, FAULTS_ENV, gatewayFixture, MB, metric, rssBytes, rssSampler } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';
import { startReceiver, type Receiver } from '../harness/webhook.js';
import { verify } from '../../src/events/signature.js';

const SECRET = 'webhook-secret-for-the-receiver-faults-test';
const RSS_BOUND = 60 * MB;
const HUGE = 400 * MB;
const BOMB = 300 * MB;
/** What the kernel's socket buffers may take of a streamed body the gateway stopped reading. */
const UNREAD_SLACK = 32 * MB;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

const fx = gatewayFixture({ env: FAULTS_ENV });
const receivers: Array<{ close(): Promise<void> }> = [];
let bomb: Buffer;

beforeAll(async () => {
  bomb = await gzipOfZeros(BOMB);
});

afterAll(async () => {
  await fx.teardown();
  for (const r of receivers.splice(0)) await r.close();
});

type Answer =
  | { kind: 'huge'; bytes: number }
  | { kind: 'gzip'; body: Buffer }
  | { kind: 'redirect'; status: number; location: string };

interface Hostile {
  url: string;
  /** Answers for the next requests, in order; once used up, 204. */
  script: Answer[];
  /** Every request received: the ids it carried, its accept-encoding, and how it was answered. */
  requests: Array<{ ids: string[]; acceptEncoding: string | undefined; answer: Answer['kind'] | 'ok' | 'bad_signature' }>;
  /** Items of the requests answered 2xx, in arrival order (repeats included). */
  accepted: Array<Record<string, any>>;
  /** Each streamed body: bytes written so far and whether its response has closed. */
  streams: Array<{ written: number; closed: boolean }>;
  close(): Promise<void>;
}

/** A receiver on a free loopback port that answers as its script says, checking signatures. */
async function startHostile(): Promise<Hostile> {
  const rx: Omit<Hostile, 'url' | 'close'> = { script: [], requests: [], accepted: [], streams: [] };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const acceptEncoding = req.headers['accept-encoding'];
      if (!verify(SECRET, body, req.headers['x-gateway-signature'] as string | undefined)) {
        rx.requests.push({ ids: [], acceptEncoding, answer: 'bad_signature' });
        return void res.writeHead(400).end();
      }
      const items = (JSON.parse(body) as { events: Array<Record<string, any>> }).events;
      const answer = rx.script.shift();
      rx.requests.push({ ids: items.map((i) => String(i.id)), acceptEncoding, answer: answer?.kind ?? 'ok' });
      if (answer?.kind === 'redirect') return void res.writeHead(answer.status, { location: answer.location }).end();
      rx.accepted.push(...items);
      if (!answer) return void res.writeHead(204).end();
      if (answer.kind === 'gzip') {
        return void res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': answer.body.length }).end(answer.body);
      }
      streamLazily(res, answer.bytes, rx.streams);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const hostile: Hostile = Object.assign(rx, {
    url: `http://127.0.0.1:${port}/hooks`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
  receivers.push(hostile);
  return hostile;
}

/** A 200 of `total` bytes, written a chunk at a time as the client reads (never held here). */
function streamLazily(res: http.ServerResponse, total: number, streams: Hostile['streams']): void {
  const stat = { written: 0, closed: false };
  streams.push(stat);
  res.on('close', () => { stat.closed = true; });
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
  const pump = () => {
    // At most total / CHUNK writes in all; each stops at the first full socket and waits for 'drain'.
    while (stat.written < total && !res.destroyed) {
      const n = Math.min(CHUNK.length, total - stat.written);
      stat.written += n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return void res.once('drain', pump);
    }
    if (stat.written >= total) res.end();
  };
  pump();
}

/** gzip of `bytes` zeros, compressed a MB at a time (a few hundred KB). */
async function gzipOfZeros(bytes: number): Promise<Buffer> {
  const gz = zlib.createGzip({ level: 9 });
  const out: Buffer[] = [];
  gz.on('data', (c: Buffer) => out.push(c));
  const ended = once(gz, 'end');
  const zeros = Buffer.alloc(MB);
  for (let i = 0; i < bytes / MB; i += 1) if (!gz.write(zeros)) await once(gz, 'drain');
  gz.end();
  await ended;
  return Buffer.concat(out);
}

/** The id of `userId`'s online event once a 2xx answer carried it. */
function acceptedOnline(rx: Hostile, userId: string): Promise<string> {
  return waitFor(`${userId} online delivered`, () => rx.accepted.find((i) => i.type === 'online' && i.userId === userId)?.id as string | undefined, 20_000);
}

/** A gateway delivering to `rx`, with one delivery done (so its RSS has settled past start). */
async function gatewayFor(rx: Hostile, warmUser: string): Promise<GatewayProcess> {
  const gw = await fx.gateway({ WEBHOOK_URL: rx.url, WEBHOOK_SECRET: SECRET });
  await fx.connect(gw, warmUser);
  await acceptedOnline(rx, warmUser);
  return gw;
}

/** Runs `hostile` while sampling the gateway's RSS; logs and returns before and peak. */
async function rssAround(gw: GatewayProcess, label: string, hostile: () => Promise<void>): Promise<{ before: number; peak: number }> {
  const pid = gw.proc.pid!;
  const before = rssBytes(pid);
  const sampler = rssSampler(pid, 50);
  try {
    await hostile();
  } finally {
    sampler.stop();
  }
  const peak = sampler.peak();
  console.log(`${label}: gateway RSS ${(before / MB).toFixed(0)} MB before, peak ${(peak / MB).toFixed(0)} MB (+${((peak - before) / MB).toFixed(0)} MB), now ${(rssBytes(pid) / MB).toFixed(0)} MB`);
  return { before, peak };
}

describe('a hostile webhook receiver', () => {
  it('answering 200 with a 400 MB body costs the node a few KB of it: RSS stays put, the rest is never read, deliveries go on', async () => {
    const rx = await startHostile();
    const gw = await gatewayFor(rx, 'huge-warm');
    const { before, peak } = await rssAround(gw, `two 200 answers of ${HUGE / MB} MB`, async () => {
      rx.script.push({ kind: 'huge', bytes: HUGE }, { kind: 'huge', bytes: HUGE });
      for (const user of ['huge-1', 'huge-2']) {
        await fx.connect(gw, user);
        await acceptedOnline(rx, user);
      }
      await waitFor('both huge answers closed', () => rx.streams.length === 2 && rx.streams.every((s) => s.closed), 30_000);
      await fx.connect(gw, 'huge-after');
      await acceptedOnline(rx, 'huge-after');
    });
    console.log(`bytes of the huge bodies written before the gateway closed them: ${rx.streams.map((s) => (s.written / MB).toFixed(1)).join(', ')} MB`);
    expect(peak - before).toBeLessThan(RSS_BOUND);
    for (const s of rx.streams) expect(s.written).toBeLessThan(UNREAD_SLACK);
    await waitFor('the last delivery counted', async () => (await metric(gw, 'gateway_webhook_events_delivered_total')) >= 4);
    expect(await alive(gw)).toBe(true);
  }, 90_000);

  it(`answering with a gzip bomb (${BOMB / MB} MB of zeros in a few hundred KB) is not inflated: RSS stays put, deliveries go on`, async () => {
    expect(bomb.length).toBeLessThan(MB);
    const rx = await startHostile();
    const gw = await gatewayFor(rx, 'bomb-warm');
    const { before, peak } = await rssAround(gw, `two gzip bombs of ${(bomb.length / 1024).toFixed(0)} KB (${BOMB / MB} MB inflated)`, async () => {
      rx.script.push({ kind: 'gzip', body: bomb }, { kind: 'gzip', body: bomb });
      for (const user of ['bomb-1', 'bomb-2', 'bomb-after']) {
        await fx.connect(gw, user);
        await acceptedOnline(rx, user);
      }
      await waitFor('the bombs answered and a delivery after them', () => rx.script.length === 0 && rx.requests.at(-1)?.answer === 'ok', 20_000);
    });
    expect(peak - before).toBeLessThan(RSS_BOUND);
    expect(rx.requests.map((r) => r.acceptEncoding)).toEqual(rx.requests.map(() => 'identity'));
    expect(await alive(gw)).toBe(true);
  }, 90_000);

  it('answering 307 and 302 to another host: nothing reaches that host, the batch is retried to WEBHOOK_URL and delivered there once', async () => {
    const rx = await startHostile();
    const elsewhere: Receiver = await startReceiver(SECRET);
    receivers.push(elsewhere);
    const gw = await gatewayFor(rx, 'moved-warm');
    rx.script.push({ kind: 'redirect', status: 307, location: elsewhere.url }, { kind: 'redirect', status: 302, location: elsewhere.url });
    const sentBefore = rx.requests.length;
    await fx.connect(gw, 'moved-1');
    // Delivered here (after backoff of 1 s, then 2 s), or sent to the other host (a followed redirect).
    const online = (i: Record<string, any>) => i.type === 'online' && i.userId === 'moved-1';
    await waitFor('moved-1 delivered, here or elsewhere', () => elsewhere.requests > 0 || rx.accepted.some(online), 20_000);
    expect(elsewhere.requests, 'requests that reached the redirect target').toBe(0);
    const id = await acceptedOnline(rx, 'moved-1');
    const tries = rx.requests.slice(sentBefore);
    expect(tries.map((r) => r.answer)).toEqual(['redirect', 'redirect', 'ok']);
    for (const t of tries) expect(t.ids).toContain(id);
    const logged = gw.logs.filter((l) => l.includes('redirect not followed')).map((l) => JSON.parse(l) as { status: number; cause: string });
    expect(logged.map((l) => [l.status, l.cause])).toEqual([[307, 'redirect'], [302, 'redirect']]);
    // A later batch delivered means the redirected one will not be sent again (one in flight, in order).
    await fx.connect(gw, 'moved-fence');
    await acceptedOnline(rx, 'moved-fence');
    expect(rx.accepted.filter((i) => i.id === id)).toHaveLength(1);
    expect(elsewhere.requests).toBe(0);
    expect(await metric(gw, 'gateway_webhook_failures_total')).toBe(2);
  }, 60_000);
});
