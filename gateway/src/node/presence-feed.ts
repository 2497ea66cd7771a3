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
 * Partitioned presence numbers events per partition: all of this holds per partition.
 *
 * A socket's welcome snapshot is taken at seq S before the socket exists; `replaySince(S)`
 * sends it the changes this node already flushed after S (per partition: after S[p]), so no
 * change falls between the snapshot and the topic subscription. Later changes reach it
 * through the topics.
 *
 * Bytes are bounded too: a window whose `*` frame would exceed `maxFrameBytes` (a storm: N
 * reconnects would cost every watcher N changes, N² bytes over the cluster) goes out as one
 * `presence_reset` instead: the first page of the online set, read once per node from the
 * store, whatever the number of watchers. Changes that arrive while it is read are held and
 * sent after it; they are idempotent (a status, not a toggle), so one that the snapshot already
 * reflects changes nothing, and none is lost. If the read fails, the changes go out as frames
 * of at most `maxFrameBytes`. Frames stay below uWebSockets.js's 16 KB cork buffer: a larger
 * frame is assembled in the socket's own buffer, which this build keeps for the socket's life.
 */
import type { PresenceChange, PresenceResetMessage } from '../../../shared/protocol.js';
import { sendTo, topics, type Connection, type LocalFanout } from '../connection.js';
import type { Logger } from '../log.js';
import type { PresenceEvent, PresenceStore } from '../presence/types.js';

const REPLAY_KEEP = 512;
/** Largest presence frame: below uWebSockets.js's 16 KB cork buffer (see the header). */
export const PRESENCE_FRAME_MAX_BYTES = 12 * 1024;

export interface PresenceFeedOptions {
  /** The window in a quiet cluster (PRESENCE_BATCH_MS); 0 sends every event at once. */
  batchMs: number;
  /** The longest window under churn (PRESENCE_BATCH_MAX_MS); default batchMs. */
  maxBatchMs?: number;
  /** The first page of the online set, for a `presence_reset` in place of an oversized frame; without it, such a window is split into frames. */
  snapshot?: () => Promise<{ users: string[]; cursor?: string }>;
  maxFrameBytes?: number;
  log?: Logger;
  now?: () => number;
}
/** Shared by every socket that sent `watch []` (a Set each would cost ~150 bytes per connection). */
const WATCHING_NOBODY: ReadonlySet<string> = new Set();
/** Changes per second above which a window counts as busy and the next one is longer. */
export const BUSY_PER_S = 100;

export class PresenceFeed {
  /** The last seq seen, by partition (0 for an unpartitioned store). */
  private lastSeq: number[] = [];
  private pending: PresenceEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushed: PresenceEvent[] = [];
  private windowMs: number;
  private lastFlushAt = 0;
  /** Set while a `presence_reset` snapshot is read: changes wait until it is sent. */
  private resetting = false;
  private readonly batchMs: number;
  private readonly maxBatchMs: number;
  private readonly maxFrameBytes: number;
  private readonly now: () => number;

  constructor(private readonly fanout: LocalFanout, private readonly opts: PresenceFeedOptions) {
    this.batchMs = opts.batchMs;
    this.maxBatchMs = opts.maxBatchMs ?? opts.batchMs;
    this.maxFrameBytes = opts.maxFrameBytes ?? PRESENCE_FRAME_MAX_BYTES;
    this.now = opts.now ?? Date.now;
    this.windowMs = this.batchMs;
  }

  push(event: PresenceEvent): void {
    const p = event.partition ?? 0;
    if (event.seq <= (this.lastSeq[p] ?? 0)) this.reset(p);
    this.lastSeq[p] = event.seq;
    this.pending.push(event);
    if (this.resetting) return;
    if (this.batchMs === 0) return this.flush();
    if (this.timer) return;
    // A window's worth of silence since the last frame: the cluster is quiet again.
    if (this.now() - this.lastFlushAt > this.windowMs) this.windowMs = this.batchMs;
    this.timer = setTimeout(() => this.flush(), this.windowMs);
  }

  /** Forget seqs seen so far (of one partition, or all): the store restarted and numbers events from 1 again. */
  reset(partition?: number): void {
    if (partition === undefined) {
      this.lastSeq = [];
      this.flushed.length = 0;
      return;
    }
    this.lastSeq[partition] = 0;
    const kept = this.flushed.filter((e) => (e.partition ?? 0) !== partition);
    this.flushed.splice(0, this.flushed.length, ...kept);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const events = this.pending;
    if (events.length === 0 || this.resetting) return;
    this.pending = [];
    const all = events.flatMap((e) => e.changes);
    this.pace(all.length);
    const changes = coalesce(all);
    if (changes.length > 0) {
      const text = frame(changes);
      if (text.length <= this.maxFrameBytes) this.fanout.publish(topics.presenceAll, text);
      else if (this.opts.snapshot) this.resetInstead(changes, this.opts.snapshot);
      else this.publishSplit(changes);
      this.publishPerUser(changes);
    }
    this.flushed.push(...events);
    if (this.flushed.length > REPLAY_KEEP) this.flushed.splice(0, this.flushed.length - REPLAY_KEEP);
  }

  /** `*` watchers get a snapshot instead of `changes`; what arrives meanwhile follows it. */
  private resetInstead(changes: PresenceChange[], snapshot: NonNullable<PresenceFeedOptions['snapshot']>): void {
    this.resetting = true;
    snapshot().then((page) => {
      this.fanout.publish(topics.presenceAll, resetFrame(page, 'churn'));
    }, (err) => {
      this.opts.log?.warn({ err, changes: changes.length }, 'presence snapshot failed; sending the changes instead');
      this.publishSplit(changes);
    }).finally(() => {
      this.resetting = false;
      if (this.pending.length > 0 && !this.timer) this.timer = setTimeout(() => this.flush(), this.batchMs);
    });
  }

  private publishSplit(changes: PresenceChange[]): void {
    for (const text of frames(changes, this.maxFrameBytes)) this.fanout.publish(topics.presenceAll, text);
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
      conn.watching = users.length === 0 ? WATCHING_NOBODY : new Set(users);
      for (const id of conn.watching) socket.subscribe(topics.presenceOf(id));
    }
  }

  /** Send `conn` the already-flushed changes newer than its snapshot (`seqs`: per partition). */
  replaySince(conn: Connection, since: { seq: number; seqs?: number[] }): void {
    const watching = conn.watching;
    const { seq, seqs } = since;
    const changes = coalesce(this.flushed
      .filter((e) => e.seq > (seqs ? seqs[e.partition ?? 0] ?? 0 : seq))
      .flatMap((e) => e.changes)
      .filter((c) => watching === '*' || watching.has(c.userId)));
    for (const text of frames(changes, this.maxFrameBytes)) sendTo(conn, text);
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

/** `changes` as presence frames of at most `maxBytes` each (a single oversized change gets its own), in order. */
export function frames(changes: PresenceChange[], maxBytes: number): string[] {
  const out: string[] = [];
  let batch: PresenceChange[] = [];
  let bytes = 0;
  for (const c of changes) {
    const size = JSON.stringify(c).length + 1;
    if (batch.length > 0 && bytes + size > maxBytes - 40) {
      out.push(frame(batch));
      batch = [];
      bytes = 0;
    }
    batch.push(c);
    bytes += size;
  }
  if (batch.length > 0) out.push(frame(batch));
  return out;
}

function resetFrame(page: { users: string[]; cursor?: string }, reason: 'churn' | 'outage'): string {
  const msg: PresenceResetMessage = { type: 'presence_reset', online: page.users, ...(page.cursor ? { onlineCursor: page.cursor } : {}), reason };
  return JSON.stringify(msg);
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
    const text = resetFrame(page, 'outage');
    for (const c of conns) if (!c.closed && c.watching === '*') sendTo(c, text);
    log.info({ users: page.users.length }, 'sent clients a fresh presence snapshot after the store returned');
  } catch (err) {
    log.warn({ err }, 'presence reset snapshot failed');
  }
}
