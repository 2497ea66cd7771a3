/**
 * The event log on Redis: the stream `P events` (written by the presence scripts), read by one
 * consumer group `webhooks` (see types.ts for the contract). The read is one Lua step
 * (lua/read.lua): pending entries first, then a trimmed-range check, then new entries.
 * The lease (lua/lead.lua) is a key with a TTL: a deliverer that dies stops renewing it and
 * another node takes over after at most `ttlMs`, claiming what the dead one left pending.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { ClusterEvent } from '../../../shared/events.js';
import { eventOf } from './payloads.js';
import type { EventBatch, EventLog } from './types.js';

export interface RedisEventLogOptions {
  /** Commands and scripts. Owned by the caller. */
  redis: Redis;
  prefix?: string;
  nodeId: string;
  /** Consumer group name (default `webhooks`). */
  group?: string;
}

const lua = (name: string) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const READ_LUA = lua('read');
const LEAD_LUA = lua('lead');

type RawEntry = [string, string[]];
type ReadReply = [number, string, string, number, RawEntry[]];

/** The entries that are events of ours (another writer's entries are skipped). */
const eventsOf = (raw: RawEntry[]): ClusterEvent[] => raw.map(([id, fields]) => eventOf(id, fields)).filter((e): e is ClusterEvent => e !== undefined);
type Scripted = Redis & {
  eventsRead(stream: string, group: string, consumer: string, count: number): Promise<ReadReply>;
  eventsLead(key: string, node: string, ttlMs: number): Promise<number>;
};

/** The id just before `id` in stream order (gap bounds are exclusive below). */
function before(id: string): string {
  const [ms, seq] = id.split('-').map(BigInt);
  return seq > 0n ? `${ms}-${seq - 1n}` : `${ms - 1n}-18446744073709551615`;
}

export class RedisEventLog implements EventLog {
  private readonly redis: Scripted;
  private readonly stream: string;
  private readonly leaseKey: string;
  private readonly group: string;
  /** The newest id this node handed out: a recreated group after it means the stream was reset. */
  private lastSeen: string | undefined;

  constructor(private readonly opts: RedisEventLogOptions) {
    const redis = opts.redis;
    if (!('eventsRead' in redis)) redis.defineCommand('eventsRead', { numberOfKeys: 1, lua: READ_LUA });
    if (!('eventsLead' in redis)) redis.defineCommand('eventsLead', { numberOfKeys: 1, lua: LEAD_LUA });
    this.redis = redis as Scripted;
    this.stream = `${opts.prefix ?? ''}events`;
    this.leaseKey = `${opts.prefix ?? ''}events:deliverer`;
    this.group = opts.group ?? 'webhooks';
  }

  async lead(ttlMs: number): Promise<boolean> {
    return (await this.redis.eventsLead(this.leaseKey, this.opts.nodeId, Math.max(1, Math.round(ttlMs)))) === 1;
  }

  async resign(): Promise<void> {
    await this.redis.eventsLead(this.leaseKey, this.opts.nodeId, 0);
  }

  async next(count: number): Promise<EventBatch> {
    const [created, gapAfter, gapThrough, pending, raw] = await this.redis.eventsRead(this.stream, this.group, this.opts.nodeId, count);
    const events = eventsOf(raw);
    const batch: EventBatch = { events };
    if (created === 1 && this.lastSeen !== undefined) {
      batch.gap = { reason: 'reset', after: this.lastSeen, through: events[0] ? before(events[0].id) : this.lastSeen };
    } else if (gapThrough !== '' && pending === 1) {
      // Pending entries trimmed: from the oldest to the newest of them.
      batch.gap = { reason: 'trimmed', after: before(gapAfter), through: gapThrough };
    } else if (gapThrough !== '') {
      // New entries trimmed: after the group's position, before the oldest retained entry.
      batch.gap = { reason: 'trimmed', after: gapAfter, through: before(gapThrough) };
    }
    // Entries that are not events (written by hand) are acknowledged, never delivered.
    const foreign = raw.filter(([id, fields]) => eventOf(id, fields) === undefined).map(([id]) => id);
    if (foreign.length > 0) await this.ack(foreign);
    const last = raw.at(-1)?.[0];
    if (last !== undefined) this.lastSeen = last;
    return batch;
  }

  async ack(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xack(this.stream, this.group, ...ids);
  }

  async lag(): Promise<number | undefined> {
    let groups: unknown[];
    try {
      groups = (await this.redis.xinfo('GROUPS', this.stream)) as unknown[];
    } catch {
      return undefined; // no stream yet
    }
    for (const g of groups as string[][]) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      if (info.get('name') === this.group) {
        const lag = info.get('lag');
        return lag === null || lag === undefined ? undefined : Number(lag);
      }
    }
    return undefined;
  }

  async range(after: string, count: number): Promise<ClusterEvent[]> {
    const start = after === '0-0' || after === '0' ? '-' : `(${after}`;
    const raw = (await this.redis.xrange(this.stream, start, '+', 'COUNT', count)) as RawEntry[];
    return eventsOf(raw);
  }

  async tail(count: number): Promise<ClusterEvent[]> {
    if (count <= 0) return [];
    const raw = (await this.redis.xrevrange(this.stream, '+', '-', 'COUNT', count)) as RawEntry[];
    return eventsOf(raw.reverse());
  }
}
