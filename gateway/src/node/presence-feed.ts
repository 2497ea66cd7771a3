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
 *
 * Large clusters (`listMax`, PRESENCE_LIST_MAX): listing costs the cluster N² bytes when N users
 * reconnect, however batched. While more than `listMax` are online, `*` watchers get a
 * `presence_count` when the count changed instead (within the window when quiet, at most one per
 * COUNT_EVERY_MS in a storm) and welcomes list nobody; listing resumes with a `presence_reset`
 * ('listed') at LIST_RESUME * listMax (the gap stops a count at the limit from flipping modes).
 * List watchers always get every change of their users. The count is the store's (read at start,
 * after a store restart, every COUNT_REFRESH_MS) minus changes still waiting for their window,
 * plus those flushed since; a read can miss changes on their way from the store, until the next.
 */
import type { PresenceChange } from '../../../shared/protocol.js';
import { sendTo, topics, type Connection, type LocalFanout, type LocalSocket } from '../connection.js';
import type { Logger } from '../log.js';
import type { PresenceEvent } from '../presence/types.js';
import { presenceCountFrame, presenceFrame, presenceResetFrame } from '../../../shared/frames.js';
import { coalesce, frames, netOnline, publishPerUser, type ResetReason } from './presence-frames.js';

const REPLAY_KEEP = 512;
/** Largest presence frame: below uWebSockets.js's 16 KB cork buffer (see the header). */
export const PRESENCE_FRAME_MAX_BYTES = 12 * 1024;
/** Listing resumes at this share of `listMax`. */
export const LIST_RESUME = 0.9;
/** How often the online count is read again from the store (corrects any drift). */
export const COUNT_REFRESH_MS = 5000;
/** Count frames go out at most this often (a count is a display; each frame costs every watcher a write). */
export const COUNT_EVERY_MS = 1000;

export interface PresenceFeedOptions {
  /** The window in a quiet cluster (PRESENCE_BATCH_MS); 0 sends every event at once. */
  batchMs: number;
  /** The longest window under churn (PRESENCE_BATCH_MAX_MS); default batchMs. */
  maxBatchMs?: number;
  /** The first page of the online set, for a `presence_reset` in place of an oversized frame; without it, such a window is split into frames and the feed always lists. */
  snapshot?: () => Promise<{ users: string[]; cursor?: string }>;
  /** PRESENCE_LIST_MAX: the `*` feed counts instead of listing above this many users online. Default: always list. */
  listMax?: number;
  /** The cluster's online count (needed with `listMax`). */
  count?: () => Promise<number>;
  maxFrameBytes?: number;
  log?: Logger;
  now?: () => number;
}
/** What a socket watches: every change ('*') or the changes of these users. */
export type Watching = Connection['watching'];

/** Shared by every socket that sent `watch []` (a Set each would cost ~150 bytes per connection). */
const WATCHING_NOBODY: ReadonlySet<string> = new Set();

/** The `users` of a `watch` command as a Watching value (one shared empty set for `[]`). */
export function watchingOf(users: '*' | string[]): Watching {
  return users === '*' ? '*' : users.length === 0 ? WATCHING_NOBODY : new Set(users);
}
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
  /** Users online cluster-wide, as this node knows it (see the header). */
  private onlineCount = 0;
  private countSent = 0;
  private listing = true;
  private refresher: NodeJS.Timeout | undefined;
  private countTimer: NodeJS.Timeout | undefined;
  private lastCountAt = -Infinity;
  private readonly batchMs: number;
  private readonly maxBatchMs: number;
  private readonly maxFrameBytes: number;
  private readonly listMax: number;
  private readonly now: () => number;

  constructor(private readonly fanout: LocalFanout, private readonly opts: PresenceFeedOptions) {
    this.batchMs = opts.batchMs;
    this.maxBatchMs = opts.maxBatchMs ?? opts.batchMs;
    this.maxFrameBytes = opts.maxFrameBytes ?? PRESENCE_FRAME_MAX_BYTES;
    this.listMax = opts.snapshot && opts.count ? opts.listMax ?? Infinity : Infinity;
    this.now = opts.now ?? Date.now;
    this.windowMs = this.batchMs;
  }

  /** Whether the `*` feed lists changes (else it counts): what a welcome or a `watch` ack says. */
  get listed(): boolean {
    return this.listing;
  }

  /**
   * The count to tell a socket that starts following the count now (a counted welcome, a `watch`
   * ack): the one the last `presence_count` carried, since the next frame goes out exactly when
   * the count differs from it. (The newest estimate could be a change that is undone before the
   * next frame, which then never comes: the socket would keep a count nobody else has.)
   */
  get count(): number {
    return this.countSent >= 0 ? this.countSent : this.onlineCount;
  }

  /** Read the online count now and every COUNT_REFRESH_MS (only with `listMax`). */
  async start(): Promise<void> {
    if (this.listMax === Infinity) return;
    await this.refreshCount();
    this.refresher = setInterval(() => void this.refreshCount(), COUNT_REFRESH_MS);
    this.refresher.unref();
  }

  /** Read the online count again (a store restart, an outage); counted or listed changes follow. */
  async refreshCount(): Promise<void> {
    if (!this.opts.count || this.listMax === Infinity) return;
    try {
      const stored = await this.opts.count();
      // Changes still waiting for their window are in the store's count already; their flush adds them.
      this.onlineCount = Math.max(0, stored - netOnline(this.pending.flatMap((e) => e.changes)));
      this.settle();
    } catch (err) {
      this.opts.log?.warn({ err }, 'online count unreadable; keeping the last one');
    }
  }

  push(event: PresenceEvent): void {
    const p = event.partition ?? 0;
    if (event.seq <= (this.lastSeq[p] ?? 0)) {
      this.reset(p);
      void this.refreshCount();
    }
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
    this.onlineCount = Math.max(0, this.onlineCount + netOnline(changes));
    this.stopListingIfLarge();
    if (changes.length > 0) {
      if (this.listing) this.publishAll(changes);
      publishPerUser(this.fanout, changes);
    }
    this.flushed.push(...events);
    if (this.flushed.length > REPLAY_KEEP) this.flushed.splice(0, this.flushed.length - REPLAY_KEEP);
    this.settle();
  }

  private publishAll(changes: PresenceChange[]): void {
    const text = presenceFrame(changes);
    if (text.length <= this.maxFrameBytes) this.fanout.publish(topics.presenceAll, text);
    else if (this.opts.snapshot) this.resetInstead('churn', () => this.publishSplit(changes));
    else this.publishSplit(changes);
  }

  /** Switch modes when the count says so, and send the count where it is wanted. */
  private settle(): void {
    this.stopListingIfLarge();
    if (!this.listing && !this.resetting && this.onlineCount <= this.listMax * LIST_RESUME) return this.resumeListing();
    this.sendCount();
  }

  /** Lists again once the snapshot is out; list watchers hear `listed: true` only then (or counting goes on). */
  private resumeListing(): void {
    this.listing = true;
    this.resetInstead('listed', () => {
      this.listing = false;
      this.countSent = -1;
    }, () => this.sendCount());
  }

  /** At once in a quiet cluster, else when COUNT_EVERY_MS since the last count frame have passed. */
  private sendCount(): void {
    if (this.onlineCount === this.countSent || this.listMax === Infinity || this.countTimer) return;
    const wait = this.lastCountAt + COUNT_EVERY_MS - this.now();
    if (wait > 0) {
      this.countTimer = setTimeout(() => {
        this.countTimer = undefined;
        this.sendCount();
      }, wait);
      return;
    }
    this.lastCountAt = this.now();
    this.countSent = this.onlineCount;
    const text = presenceCountFrame(this.onlineCount, this.listing);
    if (!this.listing) this.fanout.publish(topics.presenceAll, text);
    if (this.fanout.subscribers(topics.presenceCount) > 0) this.fanout.publish(topics.presenceCount, text);
  }

  /** Past `listMax`: `*` watchers get counts from now on, starting with one at this window's end. */
  private stopListingIfLarge(): void {
    if (!this.listing || this.onlineCount <= this.listMax) return;
    this.listing = false;
    this.countSent = -1;
  }

  /** `*` watchers get a snapshot; what arrives meanwhile follows it; `failed` runs if it cannot be read, `after` in any case. */
  private resetInstead(reason: ResetReason, failed: () => void, after?: () => void): void {
    const snapshot = this.opts.snapshot!;
    this.resetting = true;
    snapshot().then((page) => {
      this.fanout.publish(topics.presenceAll, presenceResetFrame(page, reason));
    }, (err) => {
      this.opts.log?.warn({ err, reason }, 'presence snapshot failed');
      failed();
    }).finally(() => {
      this.resetting = false;
      after?.();
      // The changes held meanwhile wait out a whole window, as any: a reset must not buy a storm an extra frame.
      if (this.pending.length > 0 && !this.timer) this.timer = setTimeout(() => this.flush(), this.windowMs);
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

  /**
   * Move `socket` from the presence topics of what it watched (`before`; undefined for a new
   * socket) to those of `after` (`count`: lists only, the count topic too). The connection's
   * record keeps `after` (session/ writes it).
   */
  follow(socket: LocalSocket, before: Watching | undefined, after: Watching, count = false): void {
    if (before === '*') socket.unsubscribe(topics.presenceAll);
    else if (before) for (const id of before) socket.unsubscribe(topics.presenceOf(id));
    if (before) socket.unsubscribe(topics.presenceCount);
    if (after === '*') return void socket.subscribe(topics.presenceAll);
    for (const id of after) socket.subscribe(topics.presenceOf(id));
    if (count) socket.subscribe(topics.presenceCount);
  }

  /**
   * Send `conn` the already-flushed changes newer than its snapshot (`seqs`: per partition).
   * Nothing to a `*` watcher while the feed counts: its welcome listed nobody.
   */
  replaySince(conn: Connection, since: { seq: number; seqs?: number[] }): void {
    const watching = conn.watching;
    if (watching === '*' && !this.listing) return;
    const { seq, seqs } = since;
    const changes = coalesce(this.flushed
      .filter((e) => e.seq > (seqs ? seqs[e.partition ?? 0] ?? 0 : seq))
      .flatMap((e) => e.changes)
      .filter((c) => watching === '*' || watching.has(c.userId)));
    for (const text of frames(changes, this.maxFrameBytes)) sendTo(conn, text);
  }

  close(): void {
    clearTimeout(this.timer);
    clearTimeout(this.countTimer);
    clearInterval(this.refresher);
    this.timer = undefined;
  }
}
