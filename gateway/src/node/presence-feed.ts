/**
 * Delivers presence changes from the store to local sockets.
 *
 * Changes arriving within one window go out as one `presence` frame, encoded once and
 * fanned out through the transport's topics: all changes to sockets watching '*', and
 * each user's changes to sockets watching that user, in the order the store published them.
 *
 * The window adapts to churn, so a watcher's frames per second stay bounded however many
 * users connect or reconnect at once (each frame costs every watcher a write): it is
 * `batchMs` while changes arrive slower than BUSY_PER_S, doubles after each busier window up
 * to `maxBatchMs`, and falls back to `batchMs` after a quieter window or a window's worth of
 * silence. So a quiet cluster delivers a single change within `batchMs`, and under churn a
 * watcher gets at most 1000 / maxBatchMs frames per second (after at most
 * log2(maxBatchMs / batchMs) shorter windows while the window grows).
 * A user who flapped within a batch is coalesced: an even number of changes (offline then
 * online again) cancels out, an odd number leaves the last one; so a watcher gets at most
 * one change per user per batch however fast the user reconnects.
 * The store's pub/sub never repeats an event, so a seq that does not grow means the store
 * restarted empty (its seq starts again at 1): the replay buffer is dropped, the event kept.
 *
 * A socket's welcome snapshot is taken at seq S before the socket exists; `replaySince(S)`
 * sends it the changes this node already flushed after S, so no change falls between the
 * snapshot and the topic subscription. Later changes reach it through the topics.
 */
import type { PresenceChange } from '../../../shared/protocol.js';
import { sendTo, topics, type Connection, type LocalFanout } from '../connection.js';
import type { Logger } from '../log.js';
import type { PresenceEvent, PresenceStore } from '../presence/types.js';

const REPLAY_KEEP = 512;
/** Changes per second above which a window counts as busy and the next one is longer. */
export const BUSY_PER_S = 100;

export class PresenceFeed {
  private lastSeq = 0;
  private pending: PresenceEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushed: PresenceEvent[] = [];
  private windowMs: number;
  private lastFlushAt = 0;

  constructor(
    private readonly fanout: LocalFanout,
    private readonly batchMs: number,
    private readonly maxBatchMs = batchMs,
    private readonly now: () => number = Date.now,
  ) {
    this.windowMs = batchMs;
  }

  push(event: PresenceEvent): void {
    if (event.seq <= this.lastSeq) this.reset();
    this.lastSeq = event.seq;
    this.pending.push(event);
    if (this.batchMs === 0) return this.flush();
    if (this.timer) return;
    // A window's worth of silence since the last frame: the cluster is quiet again.
    if (this.now() - this.lastFlushAt > this.windowMs) this.windowMs = this.batchMs;
    this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Forget seqs seen so far: the store restarted and numbers events from 1 again. */
  reset(): void {
    this.lastSeq = 0;
    this.flushed.length = 0;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending;
    if (events.length === 0) return;
    this.pending = [];
    const all = events.flatMap((e) => e.changes);
    this.pace(all.length);
    const changes = coalesce(all);
    if (changes.length > 0) {
      this.fanout.publish(topics.presenceAll, frame(changes));
      this.publishPerUser(changes);
    }
    this.flushed.push(...events);
    if (this.flushed.length > REPLAY_KEEP) this.flushed.splice(0, this.flushed.length - REPLAY_KEEP);
  }

  /** The next window's length, from how busy the one just flushed was. */
  private pace(changes: number): void {
    this.lastFlushAt = this.now();
    const busy = changes * 1000 > BUSY_PER_S * this.windowMs;
    this.windowMs = busy ? Math.min(this.maxBatchMs, this.windowMs * 2) : this.batchMs;
  }

  private publishPerUser(changes: PresenceChange[]): void {
    const byUser = new Map<string, PresenceChange[]>();
    for (const c of changes) {
      if (this.fanout.subscribers(topics.presenceOf(c.userId)) === 0) continue;
      const list = byUser.get(c.userId) ?? [];
      list.push(c);
      byUser.set(c.userId, list);
    }
    for (const [userId, list] of byUser) this.fanout.publish(topics.presenceOf(userId), frame(list));
  }

  /** Subscribe `conn` to the presence topics that match what it watches. */
  watch(conn: Connection, users: '*' | string[]): void {
    const socket = conn.socket;
    if (!socket) return;
    if (conn.watching === '*') socket.unsubscribe(topics.presenceAll);
    else for (const id of conn.watching) socket.unsubscribe(topics.presenceOf(id));
    if (users === '*') {
      conn.watching = '*';
      socket.subscribe(topics.presenceAll);
    } else {
      conn.watching = new Set(users);
      for (const id of conn.watching) socket.subscribe(topics.presenceOf(id));
    }
  }

  /** Send `conn` the already-flushed changes newer than its snapshot. */
  replaySince(conn: Connection, seq: number): void {
    const watching = conn.watching;
    const changes = coalesce(this.flushed
      .filter((e) => e.seq > seq)
      .flatMap((e) => e.changes)
      .filter((c) => watching === '*' || watching.has(c.userId)));
    if (changes.length > 0) sendTo(conn, frame(changes));
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Per user, the net effect of consecutive transitions (the store publishes each user's
 * changes alternating online/offline): none for an even count, the last one for an odd count.
 * Order among users is kept, by each user's last change.
 */
export function coalesce<C extends { userId: string }>(changes: C[]): C[] {
  const byUser = new Map<string, { count: number; last: C; at: number }>();
  changes.forEach((c, i) => {
    const seen = byUser.get(c.userId);
    byUser.set(c.userId, { count: (seen?.count ?? 0) + 1, last: c, at: i });
  });
  if (byUser.size === changes.length) return changes;
  return [...byUser.values()].filter((u) => u.count % 2 === 1).sort((a, b) => a.at - b.at).map((u) => u.last);
}

function frame(changes: PresenceChange[]): string {
  return JSON.stringify({ type: 'presence', changes });
}

/**
 * Send every local socket watching '*' a fresh snapshot of the online set. Used after the
 * store came back from an outage: changes made during it (a user who left) were never published.
 */
export async function sendPresenceReset(
  store: Pick<PresenceStore, 'online'>, conns: Iterable<Connection>, limit: number, log: Logger,
): Promise<void> {
  try {
    const page = await store.online(undefined, limit);
    const frame = JSON.stringify({ type: 'presence_reset', online: page.users, ...(page.cursor ? { onlineCursor: page.cursor } : {}) });
    for (const c of conns) if (!c.closed && c.watching === '*') sendTo(c, frame);
    log.info({ users: page.users.length }, 'sent clients a fresh presence snapshot after the store returned');
  } catch (err) {
    log.warn({ err }, 'presence reset snapshot failed');
  }
}
