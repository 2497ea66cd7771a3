/**
 * Every node's figures for the operator page: each node samples itself every `intervalMs`
 * (connections, users, memory, frames in and messages out per second from its metrics) and
 * broadcasts the sample on `$stats`; every node keeps the samples of the last `keepMs` from every
 * node it hears, its own included, so any node can draw the whole cluster's recent past at once.
 *
 * Bounded: at most `keepMs / intervalMs` samples per node (plus slack) and MAX_NODES nodes; a node
 * not heard from for `keepMs` is forgotten. Samples are stamped with this node's clock on arrival,
 * so charts do not depend on the senders' clocks. Delivery is the bus's (at most once): a missed
 * sample is a gap in a chart, nothing more.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { NodeSample } from './cluster-messages.js';
import type { Hub } from './hub.js';

export type { NodeSample };

const MAX_NODES = 256;

export interface NodeStatsDeps {
  hub: Pick<Hub, 'size' | 'users' | 'onSystem' | 'toNodes'>;
  metrics: Pick<Metrics, 'messagesIn' | 'messagesOut'>;
  nodeId: string;
  log: Logger;
  intervalMs?: number;
  keepMs?: number;
  now?: () => number;
}

async function total(counter: Metrics['messagesIn'] | Metrics['messagesOut']): Promise<number> {
  return (await counter.get()).values.reduce((sum, v) => sum + v.value, 0);
}

export class NodeStats {
  readonly intervalMs: number;
  private readonly keepMs: number;
  private readonly now: () => number;
  private readonly samples = new Map<string, NodeSample[]>();
  private timer: NodeJS.Timeout | undefined;
  private last: { at: number; in: number; out: number } | undefined;

  constructor(private readonly d: NodeStatsDeps) {
    this.intervalMs = d.intervalMs ?? 2000;
    this.keepMs = d.keepMs ?? 5 * 60_000;
    this.now = d.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.d.hub.onSystem('$stats', (s) => this.record(s));
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Every node heard from within `keepMs`, each with its samples, oldest first. */
  series(): Record<string, NodeSample[]> {
    this.prune();
    return Object.fromEntries([...this.samples].map(([node, list]) => [node, [...list]]));
  }

  /** The newest sample of every node heard from within `keepMs`. */
  latest(): NodeSample[] {
    this.prune();
    return [...this.samples.values()].map((list) => list[list.length - 1]);
  }

  /** Sample this node, keep it and tell the others. */
  async tick(): Promise<void> {
    const sample = await this.sample();
    this.record(sample);
    this.d.hub.toNodes('$stats', sample).catch((err) => this.d.log.debug({ err: (err as Error).message }, 'stats not broadcast'));
  }

  private async sample(): Promise<NodeSample> {
    const at = this.now();
    const [msgsIn, msgsOut] = await Promise.all([total(this.d.metrics.messagesIn), total(this.d.metrics.messagesOut)]);
    const prev = this.last;
    this.last = { at, in: msgsIn, out: msgsOut };
    const seconds = prev ? Math.max(0.001, (at - prev.at) / 1000) : 0;
    const rate = (now: number, before: number | undefined) => (prev && before !== undefined ? Math.max(0, (now - before) / seconds) : 0);
    const memory = process.memoryUsage();
    return {
      node: this.d.nodeId, at, connections: this.d.hub.size, users: this.d.hub.users(), rssBytes: memory.rss, heapBytes: memory.heapUsed,
      inPerS: rate(msgsIn, prev?.in), outPerS: rate(msgsOut, prev?.out),
    };
  }

  private record(sample: NodeSample): void {
    let list = this.samples.get(sample.node);
    if (!list) {
      if (this.samples.size >= MAX_NODES) this.prune();
      if (this.samples.size >= MAX_NODES) return;
      this.samples.set(sample.node, (list = []));
    }
    list.push({ ...sample, at: this.now() });
    const max = Math.ceil(this.keepMs / this.intervalMs) + 5;
    if (list.length > max) list.splice(0, list.length - max);
  }

  private prune(): void {
    const oldest = this.now() - this.keepMs;
    for (const [node, list] of this.samples) {
      while (list.length > 0 && list[0].at < oldest) list.shift();
      if (list.length === 0) this.samples.delete(node);
    }
  }
}
