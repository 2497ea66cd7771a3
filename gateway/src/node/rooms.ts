/**
 * Room presence on this node: for actions whose namespace has presence, the store's room
 * events (a user's first connection joined, its last one left, cluster-wide) reach every
 * local member as `room` frames, batched within PRESENCE_BATCH_MS and coalesced per user like
 * presence (a user who left and came back within a batch cancels out). Members subscribe to
 * the room's own local topic at join, so a member catching up on history never misses them.
 *
 * The node watches a room while it has a member there; the watch is in place before the
 * join is acknowledged, so a `members` read followed by the room events with a higher `seq`
 * never misses or repeats a change (the client applies events newer than the page's seq).
 */
import { roomFrame, roomResetFrame } from '../../../shared/frames.js';
import type { RoomChange } from '../../../shared/protocol.js';
import { topics, type LocalFanout } from '../connection.js';
import type { PresenceStore, RoomEvent } from '../presence/types.js';
import { coalesce } from './presence-frames.js';

export class RoomFeed {
  private pending = new Map<string, { seq: number; changes: RoomChange[] }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly watched = new Set<string>();

  constructor(
    private readonly store: Pick<PresenceStore, 'watchRoom' | 'unwatchRoom' | 'onRoomEvent'>,
    private readonly fanout: LocalFanout,
    private readonly batchMs: number,
  ) {
    store.onRoomEvent((event) => this.push(event));
  }

  watch(action: string): Promise<void> {
    this.watched.add(action);
    return this.store.watchRoom(action);
  }

  unwatch(action: string): Promise<void> {
    this.watched.delete(action);
    this.pending.delete(action);
    return this.store.unwatchRoom(action);
  }

  /**
   * Tell every local member of every watched room to read `members` again: after the store
   * came back from an outage, changes made during it (a member who left) were never published.
   */
  resetViews(): void {
    for (const action of this.watched) this.fanout.publish(topics.room(action), roomResetFrame(action));
  }

  private push(event: RoomEvent): void {
    const batch = this.pending.get(event.action);
    if (batch) {
      batch.seq = event.seq;
      batch.changes.push(...event.changes);
    } else this.pending.set(event.action, { seq: event.seq, changes: [...event.changes] });
    if (this.batchMs === 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.batchMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batches = this.pending;
    this.pending = new Map();
    for (const [action, { seq, changes }] of batches) {
      const net = coalesce(changes);
      if (net.length > 0) this.fanout.publish(topics.room(action), roomFrame(action, seq, net));
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
