/**
 * `npm run bench:hostile`: what one hostile signed-in user costs everyone else on a node (issue
 * 25), measured on one gateway and a private redis-server:
 * - a bystander's ping round trip (p50, p99, max) while idle, then while six sockets of one user
 *   send 1,000-id `users` and `watch` frames at 100 a second each, and how many of those the node
 *   took on;
 * - the event-stream entries a join/leave loop of one user (three sockets) writes in 5 s.
 * Every loop is bounded in count and time. BENCH_GATEWAY_MAIN points at another build for an A/B.
 */
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { sleep, startRedis } from './load/procs.js';
import { percentile } from './load/stats.js';
import { benchToken, startCluster } from './load/targets.js';

async function open(url: string, userId: string): Promise<WebSocket> {
  const token = await benchToken(userId);
  const ws = new WebSocket(`${url}/ws`, ['bearer', token]);
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}


/** Pings every `everyMs` for `ms`, while `load` runs; the round trips, sorted. */
async function pings(ws: WebSocket, ms: number, everyMs: number, load?: (tick: number) => void): Promise<number[]> {
  const rtts: number[] = [];
  const sent = new Map<string, number>();
  ws.on('message', (data) => {
    const f = JSON.parse(String(data)) as { type: string; id?: string };
    const at = f.type === 'pong' && f.id ? sent.get(f.id) : undefined;
    if (at !== undefined) rtts.push(performance.now() - at);
  });
  const start = performance.now();
  for (let tick = 0; performance.now() - start < ms && tick < 10_000; tick += 1) {
    load?.(tick);
    const id = `p${tick}`;
    sent.set(id, performance.now());
    ws.send(JSON.stringify({ type: 'ping', id }));
    const wait = start + (tick + 1) * everyMs - performance.now();
    if (wait > 0) await sleep(wait);
  }
  await sleep(1000);
  ws.removeAllListeners('message');
  return rtts.sort((a, b) => a - b);
}

const ids = Array.from({ length: 1000 }, (_, i) => `user-${String(i).padStart(44, '0')}`);

async function heavyFrames(url: string): Promise<string[]> {
  const bystander = await open(url, 'bystander');
  const idle = await pings(bystander, 3000, 20);
  const sockets = await Promise.all(Array.from({ length: 6 }, () => open(url, 'heavy')));
  let acks = 0;
  let refused = 0;
  for (const s of sockets) s.on('message', (d) => (String(d).startsWith('{"type":"ack"') ? (acks += 1) : String(d).includes('rate_limited') && (refused += 1)));
  const users = JSON.stringify({ type: 'users', ids, id: 'h' });
  const watch = JSON.stringify({ type: 'watch', users: ids, id: 'h' });
  // Each 20 ms tick, each socket sends one of each: 100 a second per socket, 600 in all (the probe of issue 25).
  const loaded = await pings(bystander, 4000, 20, () => sockets.forEach((s) => {
    s.send(users);
    s.send(watch);
  }));
  for (const s of [bystander, ...sockets]) s.close();
  const row = (name: string, r: number[]) => `| ${name} | ${percentile(r, 0.5).toFixed(1)} | ${percentile(r, 0.99).toFixed(1)} | ${r[r.length - 1].toFixed(1)} | ${r.length} |`;
  return [
    '| bystander ping, ms | p50 | p99 | max | pings |', '|---|---:|---:|---:|---:|',
    row('idle node', idle), row('six sockets sending 1,000-id frames', loaded),
    '', `heavy frames the node took on: ${acks} of ${acks + refused} answered (the rest refused rate_limited)`,
  ];
}

async function joinLeaveLoop(url: string, redis: Redis, key: string): Promise<string> {
  const sockets = await Promise.all([1, 2, 3].map(() => open(url, 'looper')));
  await sleep(500);
  const before = await redis.xlen(key);
  const until = Date.now() + 5000;
  let ops = 0;
  await Promise.all(sockets.map(async (s, i) => {
    let n = 0;
    const answered = () => new Promise<void>((resolve) => s.once('message', () => resolve()));
    while (Date.now() < until && n < 20_000) {
      for (const type of ['join', 'leave']) {
        s.send(JSON.stringify({ type, action: `loop:${i}`, id: n += 1 }));
        await answered();
        ops += 1;
      }
    }
  }));
  await sleep(500);
  const written = (await redis.xlen(key)) - before;
  for (const s of sockets) s.close();
  return `join/leave loop, one user on three sockets, 5 s: ${ops} commands sent, ${written} event-stream entries written`;
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const cluster = await startCluster('ours', redis, 1, { env: { RATE_STRIKES_BEFORE_CLOSE: '100000' } });
  const client = new Redis(redis.url);
  try {
    const lines = await heavyFrames(cluster.urls[0]);
    lines.push(await joinLeaveLoop(cluster.urls[0], client, `${cluster.prefix}events`));
    console.log(lines.join('\n'));
  } finally {
    client.disconnect();
    await cluster.stop();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
