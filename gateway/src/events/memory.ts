/**
 * The event log's memory twin (one node): reads the memory presence backend's stream with the
 * same contract as the Redis group (types.ts). Always the leader: there is one node.
 */
import type { MemoryPresenceBackend } from '../presence/memory-backend.js';
import { compareOffsets } from '../../../shared/offsets.js';
import type { EventBatch, EventLog } from './types.js';
import type { ClusterEvent } from '../../../shared/events.js';

export class MemoryEventLog implements EventLog {
  /** The group's last handed-out id, and the entries handed out but not acknowledged. */
  private delivered = '0-0';
  private readonly pending: ClusterEvent[] = [];

  constructor(private readonly backend: MemoryPresenceBackend) {}

  async lead(): Promise<boolean> {
    return true;
  }

  async resign(): Promise<void> {}

  async next(count: number): Promise<EventBatch> {
    const events = this.backend.events;
    if (this.pending.length > 0) {
      const kept = this.pending.filter((e) => events.includes(e));
      const gone = this.pending.length - kept.length;
      this.pending.splice(0, this.pending.length, ...kept);
      const batch: EventBatch = { events: kept.slice(0, count) };
      if (gone > 0) batch.gap = { reason: 'trimmed', after: '0-0', through: this.backend.eventsDeleted };
      return batch;
    }
    const batch: EventBatch = { events: [] };
    if (compareOffsets(this.backend.eventsDeleted, this.delivered) > 0) {
      batch.gap = { reason: 'trimmed', after: this.delivered, through: this.backend.eventsDeleted };
    }
    batch.events = events.filter((e) => compareOffsets(e.id, this.delivered) > 0).slice(0, count);
    if (batch.events.length > 0) this.delivered = batch.events.at(-1)!.id;
    if (batch.gap && compareOffsets(batch.gap.through, this.delivered) > 0) this.delivered = batch.gap.through;
    this.pending.push(...batch.events);
    return batch;
  }

  async ack(ids: string[]): Promise<void> {
    const done = new Set(ids);
    this.pending.splice(0, this.pending.length, ...this.pending.filter((e) => !done.has(e.id)));
  }

  async lag(): Promise<number> {
    return this.backend.events.filter((e) => compareOffsets(e.id, this.delivered) > 0).length;
  }

  async range(after: string, count: number): Promise<ClusterEvent[]> {
    return this.backend.events.filter((e) => compareOffsets(e.id, after) > 0).slice(0, count);
  }

  async tail(count: number): Promise<ClusterEvent[]> {
    return count > 0 ? this.backend.events.slice(-count) : [];
  }
}
