/**
 * The event stream as its one deliverer reads it (webhooks.ts). The presence scripts write the
 * stream (presence/lua/common.lua); this side reads it as one consumer group (`webhooks`):
 * - at-least-once: an entry stays pending until acknowledged, and a new deliverer first takes
 *   over every pending entry (its own, or a dead node's), in stream order, then reads new ones;
 * - one deliverer at a time (a lease), so the receiver sees the stream's order;
 * - nothing goes missing silently: entries trimmed before they were delivered, or a stream
 *   recreated (Redis came back empty), are reported as a gap.
 */
import type { ClusterEvent } from '../presence/types.js';

export type { ClusterEvent };

/** Entries that can no longer be delivered: trimmed (`after` < id <= `through`), or the stream was recreated. */
export interface EventGap { reason: 'trimmed' | 'reset'; after: string; through: string }

export interface EventBatch { events: ClusterEvent[]; gap?: EventGap }

export interface EventLog {
  /** Become or stay the deliverer for `ttlMs`; false while another node holds the lease. */
  lead(ttlMs: number): Promise<boolean>;
  /** Give the lease up (on stop), so another node takes over at once. */
  resign(): Promise<void>;
  /** Up to `count` entries: the pending ones first, then new ones, in stream order. */
  next(count: number): Promise<EventBatch>;
  /** The entries were delivered: never again. */
  ack(ids: string[]): Promise<void>;
  /** Entries in the stream not yet handed out (undefined when the store cannot tell). */
  lag(): Promise<number | undefined>;
  /** The retained stream after `after` (exclusive), oldest first: replay and tests. */
  range(after: string, count: number): Promise<ClusterEvent[]>;
}

const TYPES = new Set(['online', 'offline', 'joined', 'left']);
const REASONS = new Set(['connect', 'disconnect', 'join', 'leave', 'node_lost', 'sync', 'repair']);

/** A stream entry's fields (flat name/value list) as an event; undefined for anything else. */
export function eventOf(id: string, fields: string[]): ClusterEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  if (!TYPES.has(f.type) || !REASONS.has(f.reason) || f.userId === undefined) return undefined;
  const event: ClusterEvent = {
    id, type: f.type as ClusterEvent['type'], userId: f.userId, username: f.username ?? f.userId,
    node: f.node ?? '', reason: f.reason as ClusterEvent['reason'], ts: Number(f.ts), seq: Number(f.seq),
  };
  if (f.action !== undefined) event.action = f.action;
  return event;
}
