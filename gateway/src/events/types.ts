/**
 * The event stream as its one deliverer reads it (webhooks.ts). The presence scripts write the
 * stream (presence/lua/common.lua); this side reads it as one consumer group (`webhooks`):
 * - at-least-once: an entry stays pending until acknowledged, and a new deliverer first takes
 *   over every pending entry (its own, or a dead node's), in stream order, then reads new ones;
 * - one deliverer at a time (a lease), so the receiver sees the stream's order;
 * - nothing goes missing silently: entries trimmed before they were delivered, or a stream
 *   recreated (Redis came back empty), are reported as a gap.
 */
import type { ClusterEvent, EventGapItem } from '../../../shared/events.js';

export type { ClusterEvent };

/** Entries that can no longer be delivered: trimmed (`after` < id <= `through`), or the stream was recreated. */
export type EventGap = Omit<EventGapItem, 'id' | 'type'>;

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
  /** The retained stream after `after` (exclusive), oldest first: replay, tests and the operator's page. */
  range(after: string, count: number): Promise<ClusterEvent[]>;
  /** The last `count` retained entries, oldest first (the operator's page opens with them). Reads only: no group, no lease. */
  tail(count: number): Promise<ClusterEvent[]>;
}
