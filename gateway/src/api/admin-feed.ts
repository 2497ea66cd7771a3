/**
 * The operator page's live feed: `GET /admin/api/feed`, a Server-Sent Events stream (one per open
 * page) of named events, each one JSON line:
 *   hello   at open: this node, the nodes (leases plus their latest figures), the last minutes of
 *           every node's figures (node/stats.ts), the online count and the event stream's tail;
 *   stats   every stats interval (2 s): the nodes, the online count and every node's newest figures;
 *   events  new event-stream entries (online, offline, joined, left), within about a second.
 * Why a stream and not polling: the node does the work once per tick for all its open pages
 * (one presence read, one stream read), whatever their number, and entries arrive as they happen;
 * an EventSource reconnects by itself (to any node: the cookie works everywhere).
 *
 * Bounds: MAX_STREAMS per node and MAX_PER_SESSION per session (then 429); the timer runs only
 * while a stream is open; every few seconds each stream's session is checked again and a stream
 * whose session ended (signed out, expired, operator flag revoked) is closed. A page that does
 * not read its stream is dropped (transport/stream.ts). Entries may repeat across a reconnect:
 * the page keys them by id.
 */
import type { ClusterEvent, EventLog } from '../events/types.js';
import type { Logger } from '../log.js';
import type { NodeStats } from '../node/stats.js';
import type { PresenceStore } from '../presence/types.js';
import type { ApiReply } from '../transport/http.js';
import type { EventStream, StreamReply, StreamRoute } from '../transport/sse.js';
import type { AdminAuth } from './admin-auth.js';
import { fail } from './request.js';

const MAX_STREAMS = 32;
const MAX_PER_SESSION = 4;
const TICK_MS = 1000;
const RECHECK_TICKS = 5;
const TAIL = 50;
const EVENTS_PER_TICK = 200;

export interface AdminFeedDeps {
  auth: Pick<AdminAuth, 'operator' | 'session'>;
  stats: Pick<NodeStats, 'latest' | 'series' | 'intervalMs'>;
  presence: Pick<PresenceStore, 'nodes' | 'onlineCount'>;
  events: Pick<EventLog, 'range' | 'tail'>;
  nodeId: string;
  log: Logger;
}

interface Watcher { stream: EventStream; key: string }

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' };

/** The registered nodes (leases) with the newest figures each one broadcast. */
export async function nodesNow(d: Pick<AdminFeedDeps, 'stats' | 'presence'>) {
  const now = Date.now();
  const figures = new Map(d.stats.latest().map((s) => [s.node, s]));
  return (await d.presence.nodes()).map((n) => {
    const s = figures.get(n.id);
    const more = s ? { rssBytes: s.rssBytes, heapBytes: s.heapBytes, inPerS: s.inPerS, outPerS: s.outPerS, sampledAt: s.at } : {};
    return { id: n.id, alive: n.leaseExpiresAt > now, leaseExpiresAt: n.leaseExpiresAt, connections: n.connections, users: n.users, ...more };
  });
}

export class AdminFeed {
  private readonly watchers = new Set<Watcher>();
  private timer: NodeJS.Timeout | undefined;
  private after: string | undefined;
  private ticks = 0;
  private busy = false;

  constructor(private readonly d: AdminFeedDeps) {}

  readonly route: StreamRoute = async (req): Promise<ApiReply | StreamReply> => {
    const op = await this.d.auth.operator(req);
    if ('status' in op) return op;
    if (this.full(op.key)) return fail(429, 'rate_limited', 'too many open feeds');
    let hello;
    try {
      hello = await this.hello();
    } catch (err) {
      return fail(503, 'unavailable', (err as Error).message);
    }
    return {
      status: 200, headers: HEADERS,
      stream: (stream) => {
        // Checked again: feeds asked for at the same time all passed the check above before any opened.
        if (this.full(op.key)) return stream.end();
        const w: Watcher = { stream, key: op.key };
        this.watchers.add(w);
        stream.onClose(() => this.watchers.delete(w));
        stream.send(`retry: 2000\n${sse('hello', hello)}`);
        this.after ??= hello.events.at(-1)?.id ?? '0-0';
        this.timer ??= setInterval(() => void this.tick(), TICK_MS);
      },
    };
  };

  /** Whether this node holds as many feeds as it serves, or this session as many as it may open. */
  private full(key: string): boolean {
    let mine = 0;
    for (const w of this.watchers) if (w.key === key) mine += 1;
    return this.watchers.size >= MAX_STREAMS || mine >= MAX_PER_SESSION;
  }

  /** End every stream (the node stops). */
  close(): void {
    for (const w of this.watchers) w.stream.end();
    this.watchers.clear();
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async hello() {
    const [nodes, onlineCount, events] = await Promise.all([nodesNow(this.d), this.d.presence.onlineCount(), this.d.events.tail(TAIL)]);
    return { node: this.d.nodeId, intervalMs: this.d.stats.intervalMs, nodes, onlineCount, series: this.d.stats.series(), events };
  }

  private async tick(): Promise<void> {
    if (this.watchers.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.after = undefined;
      return;
    }
    if (this.busy) return; // a slow store: skip a tick rather than pile reads up
    this.busy = true;
    this.ticks += 1;
    try {
      await this.sendEvents();
      if (this.ticks % Math.max(1, Math.round(this.d.stats.intervalMs / TICK_MS)) === 0) await this.sendStats();
      if (this.ticks % RECHECK_TICKS === 0) await this.recheck();
    } catch (err) {
      this.d.log.debug({ err: (err as Error).message }, 'operator feed tick failed');
    } finally {
      this.busy = false;
    }
  }

  private broadcast(text: string): void {
    for (const w of this.watchers) w.stream.send(text);
  }

  private async sendEvents(): Promise<void> {
    const events: ClusterEvent[] = await this.d.events.range(this.after ?? '0-0', EVENTS_PER_TICK);
    if (events.length === 0) return;
    this.after = events[events.length - 1].id;
    this.broadcast(sse('events', events));
  }

  private async sendStats(): Promise<void> {
    const [nodes, onlineCount] = await Promise.all([nodesNow(this.d), this.d.presence.onlineCount()]);
    this.broadcast(sse('stats', { at: Date.now(), nodes, onlineCount, samples: this.d.stats.latest() }));
  }

  /** Close the streams whose session ended. */
  private async recheck(): Promise<void> {
    const keys = new Set([...this.watchers].map((w) => w.key));
    for (const key of keys) {
      const op = await this.d.auth.session(key);
      if (!('status' in op) || op.status === 503) continue; // a store outage does not close feeds
      for (const w of this.watchers) if (w.key === key) w.stream.end();
    }
  }
}
