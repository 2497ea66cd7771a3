/**
 * The bare reference of `npm run bench -- --cluster`: the fan-out's Redis traffic without any
 * gateway, straight from ioredis. Two subscriber connections on the same 60 action channels
 * the gateways would use, two publisher connections sending 128-byte messages spread over the
 * channels at one rate for a bounded time, paced like the gateway load. Single Redis: classic
 * SUBSCRIBE/PUBLISH; cluster: ioredis Cluster clients, SSUBSCRIBE/SPUBLISH (`shardedSubscribers`).
 * What it shows: how a Redis process's CPU per message changes when it carries a third of the
 * messages, with no gateway in the picture. Each Redis process's CPU is read as for the gateway
 * loads (INFO cpu over the window, net of an idle window measured with these clients connected).
 */
import { Cluster, Redis } from 'ioredis';
import { sleep } from './procs.js';
import type { RedisProc } from './redis-probe.js';
import { cpuWindow, idleRates, type CpuWindow } from './scale-loads.js';
import { wallMs } from './stats.js';

/** Where the bare clients go: one redis-server (`port`) or a Redis Cluster (`nodes`, sharded pub/sub). */
export type BareTarget = { port: number } | { nodes: Array<{ host: string; port: number }> };

export interface BareSpec { channels: string[]; rate: number; seconds: number; bytes: number; idleMs: number }

export interface BareOutcome extends CpuWindow { rate: number; sent: number; expected: number; delivered: number; failed: number }

const SUBSCRIBERS = 2;
const PUBLISHERS = 2;

type Client = Redis | Cluster;
const sharded = (t: BareTarget) => 'nodes' in t;

/** One connection, ready; on a cluster every primary is connected first, so the first publishes are not reordered. */
async function connect(t: BareTarget, subscriber: boolean): Promise<Client> {
  if (!('nodes' in t)) {
    const c = new Redis({ port: t.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    await c.connect();
    return c;
  }
  const c = new Cluster(t.nodes, { lazyConnect: true, shardedSubscribers: subscriber, scaleReads: 'master' });
  c.on('error', () => {});
  await c.connect();
  await Promise.all(c.nodes('master').map((n) => n.ping()));
  return c;
}

/** Subscribe every channel (sharded: one SSUBSCRIBE per channel, each in its own slot); `onMessage` per delivery. */
async function subscribe(c: Client, t: BareTarget, channels: string[], onMessage: () => void): Promise<void> {
  c.on(sharded(t) ? 'smessage' : 'message', onMessage);
  if (!sharded(t)) {
    await c.subscribe(...channels);
    return;
  }
  for (const ch of channels) await c.ssubscribe(ch);
}

/** `rate` msg/s for `seconds`, round-robin over channels and publishers; bounded in count and in time (3x the duration). */
async function publishLoad(pubs: Client[], t: BareTarget, spec: BareSpec): Promise<{ sent: number; failed: number }> {
  const total = Math.round(spec.rate * spec.seconds);
  const payload = 'x'.repeat(spec.bytes);
  const pending: Array<Promise<unknown>> = [];
  let failed = 0;
  const start = wallMs();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((wallMs() - start) * spec.rate) / 1000));
      for (; sent < due; sent += 1) {
        const pub = pubs[sent % pubs.length];
        const ch = spec.channels[sent % spec.channels.length];
        pending.push((sharded(t) ? pub.spublish(ch, payload) : pub.publish(ch, payload)).catch(() => void (failed += 1)));
      }
      if (sent >= total || wallMs() - start > spec.seconds * 3000) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(pending);
  return { sent, failed };
}

/** Until `count()` reaches `expected`, or nothing new for `quietMs`, or `maxMs` passed. */
async function settle(count: () => number, expected: number, quietMs: number, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  let [last, lastChange] = [-1, Date.now()];
  while (count() < expected && Date.now() < deadline) {
    if (count() !== last) [last, lastChange] = [count(), Date.now()];
    else if (Date.now() - lastChange > quietMs) return;
    await sleep(50);
  }
}

/** The bare load on `target`, with each of `procs`' CPU over it and its idle background measured just before. */
export async function runBarePubsub(target: BareTarget, procs: RedisProc[], spec: BareSpec): Promise<BareOutcome> {
  const clients: Client[] = [];
  try {
    for (let i = 0; i < SUBSCRIBERS + PUBLISHERS; i += 1) clients.push(await connect(target, i < SUBSCRIBERS));
    let delivered = 0;
    for (const s of clients.slice(0, SUBSCRIBERS)) await subscribe(s, target, spec.channels, () => void (delivered += 1));
    const idle = await idleRates(procs, spec.idleMs);
    const w = await cpuWindow(procs, async () => {
      const r = await publishLoad(clients.slice(SUBSCRIBERS), target, spec);
      await settle(() => delivered, r.sent * SUBSCRIBERS, 2000, 10_000);
      return r;
    });
    const { sent, failed } = w.value;
    return { rate: spec.rate, cpu: w.cpu, wallMs: w.wallMs, machineBusy: w.machineBusy, idle, sent, failed, expected: sent * SUBSCRIBERS, delivered };
  } finally {
    for (const c of clients) c.disconnect();
  }
}
