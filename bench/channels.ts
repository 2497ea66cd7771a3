/**
 * `npm run bench:channels`: what the channel policy costs a join, per subscribe mode, on one
 * gateway with Redis, with a 100-namespace CHANNELS_FILE and a `channels` claim (half exact
 * names, 30% `prefix*` globs, 20% infix globs; the joined action matches the last infix glob,
 * the slowest case): end to end with as many patterns as a token in a 4 KiB header holds, and
 * the matcher alone with 1,000 and 10,000 patterns. Each mode: JOINS sequential join + leave round trips from one
 * connection, latency of the join's ack. Bounded in count and time; loopback only.
 */
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { compileClaim } from '../gateway/src/channels/claims.js';
import { startRedis } from './load/procs.js';
import { Histogram } from './load/stats.js';
import { BENCH_SECRET, startNode } from './load/targets.js';

const JOINS = Number(process.env.BENCH_JOINS ?? 400);
/** Patterns in the end-to-end claim: uWebSockets.js refuses request headers past 4 KiB, token included. */
const CLAIM_E2E = 250;
const key = new TextEncoder().encode(BENCH_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>) => new SignJWT({ iat: now(), exp: now() + 3600, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(key);

/** A claim of `n` short patterns: half exact names, 30% `prefix*` globs, 20% infix globs (the joined action matches the last). */
function bigClaim(n: number): string[] {
  const claim: string[] = [];
  for (let i = 0; i < n / 2; i += 1) claim.push(`o:${i}`);
  for (let i = 0; i < (n * 3) / 10; i += 1) claim.push(`p${i}:*`);
  for (let i = 0; i < n / 5; i += 1) claim.push(`team:*g${i}`);
  return claim;
}

/** The matcher alone, in process: compile once (per connection), then a match per join. */
function matcherCost(n: number): { compileMs: number; matchUs: number } {
  const patterns = bigClaim(n);
  const t0 = performance.now();
  const m = compileClaim(patterns);
  const compileMs = performance.now() - t0;
  const rounds = 20_000;
  const action = `team:x-g${n / 5 - 1}`;
  const t1 = performance.now();
  let hits = 0;
  for (let i = 0; i < rounds; i += 1) if (m.matches(i % 2 ? action : `team:y${i}`)) hits += 1;
  if (hits !== rounds / 2) throw new Error('matcher disagrees');
  return { compileMs, matchUs: ((performance.now() - t1) * 1000) / rounds };
}

function channelsFile(proxyUrl: string): string {
  const namespaces: Record<string, unknown> = {
    default: { subscribe: 'public', presence: true },
    team: { subscribe: 'claim', presence: true },
    private: { subscribe: 'token' },
    billing: { subscribe: 'proxy', proxy: { url: proxyUrl, timeoutMs: 2000 } },
  };
  for (let i = 0; i < 96; i += 1) namespaces[`ns${i}`] = { subscribe: 'public', presence: i % 2 === 0 };
  const dir = mkdtempSync(join(tmpdir(), 'bench-channels-'));
  writeFileSync(join(dir, 'channels.json'), JSON.stringify({ namespaces }));
  return join(dir, 'channels.json');
}

async function client(url: string, token: string): Promise<{ request(frame: object): Promise<Record<string, unknown>>; close(): void }> {
  const ws = new WebSocket(url, ['bearer', token]);
  const waiting = new Map<string, (f: Record<string, unknown>) => void>();
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as Record<string, unknown>;
    if (typeof f.id === 'string') waiting.get(f.id)?.(f);
  });
  ws.on('close', (code) => process.stderr.write(`[bench:channels] socket closed ${code}\n`));
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject).once('unexpected-response', (_q, res) => reject(new Error(`upgrade refused: ${res.statusCode}`))));
  let n = 0;
  return {
    request: (frame) => new Promise((resolve) => {
      const id = `r${(n += 1)}`;
      waiting.set(id, (f) => {
        waiting.delete(id);
        resolve(f);
      });
      ws.send(JSON.stringify({ ...frame, id }));
    }),
    close: () => ws.close(),
  };
}

async function measure(url: string, token: string, actionOf: (i: number) => string, extra: (i: number) => Promise<object> = async () => ({})): Promise<number[]> {
  process.stderr.write(`[bench:channels] ${actionOf(0)}...\n`);
  const c = await client(url, token);
  const latencies: number[] = [];
  for (let i = 0; i < JOINS; i += 1) {
    const fields = await extra(i);
    const t0 = performance.now();
    const ack = await c.request({ type: 'join', action: actionOf(i), ...fields });
    latencies.push(performance.now() - t0);
    if (ack.type !== 'ack') throw new Error(`join ${actionOf(i)} refused: ${JSON.stringify(ack)}`);
    await c.request({ type: 'leave', action: actionOf(i) });
  }
  c.close();
  return latencies;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const proxy = createServer((_req, res) => res.writeHead(204).end());
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/authorize`;
  const node = await startNode('ours', redis, 'channels-bench', { env: { CHANNELS_FILE: channelsFile(proxyUrl), MAX_ACTIONS_PER_CONNECTION: '10', MSG_RATE_PER_S: '100000', MSG_BURST: '100000' } });
  const url = `ws://127.0.0.1:${node.port}/ws`;
  const rows: Array<[string, number[]]> = [];
  try {
    const plain = await sign({ sub: 'bench-plain' });
    rows.push(['public, default namespace', await measure(url, plain, (i) => `room-${i}`)]);
    rows.push(['public, 1 of 100 namespaces', await measure(url, plain, (i) => `ns57:room-${i}`)]);
    const claimed = await sign({ sub: 'bench-claim', channels: bigClaim(CLAIM_E2E) });
    rows.push([`claim, ${CLAIM_E2E} patterns (what fits a 4 KiB header)`, await measure(url, claimed, (i) => `team:x${i}-g${CLAIM_E2E / 5 - 1}`)]);
    const granted = await sign({ sub: 'bench-token' });
    rows.push(['token (subscription JWT)', await measure(url, granted, (i) => `private:room-${i}`, async (i) => ({ token: await sign({ sub: 'bench-token', channel: `private:room-${i}` }) }))]);
    rows.push(['proxy (local HTTP endpoint)', await measure(url, plain, (i) => `billing:acct-${i}`)]);
  } finally {
    await node.stop();
    proxy.close();
    await redis.stop();
  }
  console.log(`\njoin latency by subscribe mode (${JOINS} sequential joins each, one gateway + Redis, loopback)\n`);
  console.log('| mode | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|');
  for (const [name, latencies] of rows) {
    const h = new Histogram();
    for (const ms of latencies) h.record(ms);
    console.log(`| ${name} | ${h.quantile(0.5).toFixed(2)} | ${h.quantile(0.99).toFixed(2)} | ${h.mean().toFixed(2)} |`);
  }
  console.log('\nthe claim matcher alone (in process): compile once per connection, then one match per join\n');
  console.log('| patterns | compile ms | match µs |\n|---:|---:|---:|');
  for (const n of [1000, 10_000]) {
    const { compileMs, matchUs } = matcherCost(n);
    console.log(`| ${n.toLocaleString('en')} | ${compileMs.toFixed(2)} | ${matchUs.toFixed(2)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
