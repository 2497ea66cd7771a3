/**
 * `npm run bench:failover [-- --quick]`: a node dies under load, seen through the client package.
 *
 * Two gateways on one redis-server; C clients (RealtimeClient in Node, `ws`) spread over both,
 * each given both URLs (its own node first) and joined to 5 history channels of 10; a backend
 * publishes to the channels round-robin through the surviving node at R msgs/s. After T1 s one
 * node is SIGKILLed; publishing goes on for T2 s more. Reported for the dead node's clients:
 * the time from the kill until each was back with all 5 channels re-joined (p50/p99/max),
 * reconnect attempts, and the frames each sent to come back (from its new welcome to its last
 * re-join ack); for every client: every message of its channels exactly once, in order.
 * Bounded: the publisher stops after T1 + T2 s; the run waits at most 30 s for stragglers.
 */
import WebSocket from 'ws';
import { RealtimeClient, type WebSocketConstructor } from '../client/src/index.js';
import { sleep, startRedis, until } from './load/procs.js';
import { percentile } from './load/stats.js';
import { benchToken, startCluster } from './load/targets.js';

const API_KEY = 'bench-failover-api-key-0123456789abcdef';
const CHANNELS = Array.from({ length: 10 }, (_, i) => `fo:${i}`);
const quick = process.argv.includes('--quick');
const SPEC = quick ? { clients: 100, rate: 100, before: 2, after: 4 } : { clients: 400, rate: 200, before: 3, after: 6 };

interface Tracked {
  client: RealtimeClient;
  node: number;
  channels: string[];
  got: Map<string, number[]>;
  sockets: number;
  sent: number;
  /** Frames sent when the last welcome came, and when the last re-join ack came after it. */
  sentAtWelcome: number;
  rejoined: Set<string>;
  backAt?: number;
}

async function track(urls: string[], node: number, i: number): Promise<Tracked> {
  const token = await benchToken(`fo-${i}`);
  const t = { node, channels: [0, 1, 2, 3, 4].map((k) => CHANNELS[(i + k * 2) % CHANNELS.length]), got: new Map(), sockets: 0, sent: 0, sentAtWelcome: 0, rejoined: new Set() } as unknown as Tracked;
  class Counted extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols);
      t.sockets += 1;
      const send = this.send.bind(this);
      this.send = ((data: string) => {
        if (!data.includes('"ping"')) t.sent += 1;
        send(data);
      }) as WebSocket['send'];
    }
  }
  t.client = new RealtimeClient(urls, { token, WebSocket: Counted as unknown as WebSocketConstructor });
  t.client.on('welcome', () => {
    t.sentAtWelcome = t.sent;
    t.rejoined.clear();
  });
  for (const name of t.channels) {
    const ch = t.client.channel(name);
    t.got.set(name, []);
    ch.on('message', (m) => t.got.get(name)!.push(m.data as number));
    ch.on('joined', ({ rejoin }) => {
      if (!rejoin) return;
      t.rejoined.add(name);
      if (t.rejoined.size === t.channels.length) t.backAt = performance.now();
    });
  }
  await t.client.connect();
  await Promise.all(t.channels.map((name) => t.client.channel(name).join()));
  return t;
}

async function publishLoop(http: string, seconds: number, published: Map<string, number[]>, counter: { n: number }): Promise<void> {
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  for (let k = 0; performance.now() < end && k < 1_000_000; k += 1) {
    const due = started + (k * 1000) / SPEC.rate;
    if (due > performance.now()) await sleep(due - performance.now());
    const action = CHANNELS[k % CHANNELS.length];
    counter.n += 1;
    const n = counter.n;
    const res = await fetch(`${http}/api/publish`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, data: n }),
    });
    if (res.status !== 200) throw new Error(`publish answered ${res.status}`);
    published.get(action)!.push(n);
  }
}


async function main(): Promise<void> {
  const redis = await startRedis();
  const cluster = await startCluster('ours', redis, 2, { env: { HISTORY_ACTIONS: 'fo:*=10000/10m', API_KEYS: API_KEY, CONNECT_BURST: '100' } });
  const urls = cluster.urls.map((u) => `${u}/ws`);
  const clients: Tracked[] = [];
  try {
    for (let i = 0; i < SPEC.clients; i += 1) clients.push(await track(i % 2 === 0 ? urls : [...urls].reverse(), i % 2, i));
    const published = new Map(CHANNELS.map((c) => [c, [] as number[]]));
    const counter = { n: 0 };
    const survivor = cluster.http[1];
    await publishLoop(survivor, SPEC.before, published, counter);
    const killedAt = performance.now();
    cluster.nodes[0].proc.kill('SIGKILL');
    await publishLoop(survivor, SPEC.after, published, counter);
    const complete = (t: Tracked) => t.channels.every((c) => (t.got.get(c)?.length ?? 0) >= published.get(c)!.length);
    await until('every client has every message', () => clients.every(complete), 30_000).catch(() => undefined);
    await sleep(300);
    let exact = 0;
    for (const t of clients) if (t.channels.every((c) => JSON.stringify(t.got.get(c)) === JSON.stringify(published.get(c)))) exact += 1;
    const moved = clients.filter((t) => t.node === 0);
    const back = moved.filter((t) => t.backAt !== undefined).map((t) => t.backAt! - killedAt);
    const attempts = moved.map((t) => t.sockets - 1);
    const frames = moved.map((t) => t.sent - t.sentAtWelcome);
    console.log([
      `Node death under load: ${SPEC.clients} clients (the client package) on two nodes, 5 history channels each of ${CHANNELS.length};`,
      `a backend publishing ${SPEC.rate} msgs/s through the survivor; one node SIGKILLed after ${SPEC.before} s, publishing for ${SPEC.after} s more.`,
      '',
      '| | figure |', '|---|---:|',
      `| messages published | ${counter.n} |`,
      `| clients with every message of their channels exactly once, in order | ${exact} of ${clients.length} |`,
      `| clients of the dead node back with all 5 channels | ${back.length} of ${moved.length} |`,
      `| time from the kill until back, p50 / p99 / max ms | ${percentile(back, 0.5).toFixed(0)} / ${percentile(back, 0.99).toFixed(0)} / ${Math.max(...back).toFixed(0)} |`,
      `| reconnect attempts per client, p50 / max | ${percentile(attempts, 0.5)} / ${Math.max(...attempts)} |`,
      `| frames sent to come back per client (welcome to last re-join ack), p50 / max | ${percentile(frames, 0.5)} / ${Math.max(...frames)} |`,
    ].join('\n'));
    if (exact !== clients.length) process.exitCode = 1;
  } finally {
    for (const t of clients) t.client.close();
    await cluster.stop();
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
