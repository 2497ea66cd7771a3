/**
 * This node's live feeds of history actions: the only place that decides, by offset, what a
 * member of a history action gets from history and what from the live feed.
 *
 * Per action with local members, the feed keeps `head`: the offset of the last message
 * fanned out here. The broker hands every history message with `prev` (the offset before
 * it), so:
 * - gap repair: a message whose `prev` is not `head` means this node missed messages (its
 *   Redis subscriber reconnected, say); they are read back from history and fanned out
 *   first, in order, while later messages wait. What history no longer holds is lost and
 *   counted; the feed then goes on from the new message.
 * - exact catch-up: a joining member gets history up to the stream's top `T` (read
 *   atomically with `T`), then live messages after `T` only:
 *     head == T            attach to the topic now: every later message is after T;
 *     head > T             the messages (T, head] passed here after the read: sent from the
 *                          recent buffer (or a second read), then attach;
 *     head < T, or none    the messages up to T are still on their way: the member waits
 *                          "pending" and gets the first message after T directly, then is
 *                          attached in the same tick (so never twice, never a gap).
 * The recent buffer holds frames this node fanned out, offsets from the broker's position
 * (never from user data), bounded per action and per node; a miss costs one more read.
 */
import { isOpen, sendTo, topics, type Connection, type LocalFanout } from '../connection.js';
import { withOffset } from '../../../shared/frames.js';
import { compareOffsets } from '../../../shared/offsets.js';
import type { Broker, Delivery, HistoryPolicy, HistoryRead, StreamPosition } from '../broker/types.js';
import type { Logger } from '../log.js';
import { RecentFrames } from './recent.js';

export interface CatchUpRequest {
  /** Recover after this offset (of `epoch`, when given). */
  since?: string;
  epoch?: string;
  /** Or: the last N messages as initial state. */
  history?: number;
}

export interface CatchUpResult {
  /** The member has every message up to this position; later ones come live. */
  position: StreamPosition;
  /** `since` joins: false when the messages after `since` are no longer all kept. */
  recovered?: boolean;
  /** Messages sent from history (and the recent buffer) before live ones. */
  delivered: number;
}

interface Feed {
  policy: HistoryPolicy;
  head?: string;
  epoch?: string;
  recent: RecentFrames;
  /** Members waiting for the first live message after the offset they have. */
  pending: Map<Connection, string>;
  /** Deliveries held while a gap is read back. */
  held?: Delivery[];
  /** The live feed was interrupted during that read: read again after it. */
  recheck?: boolean;
}

export interface FeedDeps {
  broker: Pick<Broker, 'history'>;
  fanout: LocalFanout;
  log: Logger;
  /** Called once per message fanned out here (metrics). */
  onFanOut?: (frame: string) => void;
  /** Called with the number of messages a gap repair could not recover. */
  onLost?: (count: number) => void;
}

/** Second reads when frames passed the node during a join's read; beyond, the join fails. */
const MAX_REREADS = 8;

export class HistoryFeeds {
  private readonly feeds = new Map<string, Feed>();
  private readonly budget = RecentFrames.nodeBudget();
  /** Live-feed interruptions so far: a join whose read spanned one checks the stream again. */
  private interruptions = 0;

  constructor(private readonly d: FeedDeps) {}

  /** A history message for `delivery.topic`, which this node subscribed to. */
  relay(delivery: Delivery): void {
    const feed = this.feeds.get(delivery.topic);
    if (!feed) {
      // No local member joined it as a history action (a node configured differently): plain fan-out.
      const frame = withOffset(delivery.payload, delivery.position!.offset);
      this.d.fanout.publish(topics.action(delivery.topic), frame);
      return;
    }
    if (feed.held) feed.held.push(delivery);
    else this.process(delivery.topic, feed, delivery);
  }

  private process(action: string, feed: Feed, delivery: Delivery): void {
    const { offset, prev, epoch } = delivery.position!;
    if (feed.epoch !== epoch) this.restart(feed, epoch);
    // Before the first live message, the pending members' positions are what this node must continue.
    const base = feed.head ?? lowest(feed.pending.values());
    if (base !== undefined && compareOffsets(offset, base) <= 0) {
      feed.head ??= offset;
      return;
    }
    if (base !== undefined && prev !== base && compareOffsets(prev, base) > 0) return this.repair(action, feed, base, [delivery]);
    this.emit(action, feed, offset, prev, withOffset(delivery.payload, offset));
  }

  /**
   * The live feed was interrupted (the subscriber reconnected): messages published meanwhile
   * never arrive, and a gap shows only when a later message comes. Read every feed's stream
   * after its head now, so the tail of an outage is delivered without waiting for one.
   */
  resume(): void {
    this.interruptions += 1;
    for (const [action, feed] of this.feeds) this.recheck(action, feed);
  }

  /** Read the stream after what this node fanned out (or its waiting members hold): now, or after the read in progress. */
  private recheck(action: string, feed: Feed): void {
    if (feed.held) {
      feed.recheck = true;
      return;
    }
    feed.recheck = false;
    const base = feed.head ?? lowest(feed.pending.values());
    if (base !== undefined && feed.epoch !== undefined) this.repair(action, feed, base, []);
  }

  /** A new incarnation of the stream: offsets of the old one mean nothing in it. */
  private restart(feed: Feed, epoch: string): void {
    feed.epoch = epoch;
    feed.head = undefined;
    feed.recent.clear();
  }

  private emit(action: string, feed: Feed, offset: string, prev: string, frame: string): void {
    this.d.fanout.publish(topics.action(action), frame);
    this.d.onFanOut?.(frame);
    feed.head = offset;
    feed.recent.push(offset, prev, frame);
    for (const [conn, upTo] of feed.pending) {
      if (compareOffsets(offset, upTo) <= 0) continue;
      feed.pending.delete(conn);
      sendTo(conn, frame);
      attach(conn, action);
    }
  }

  /**
   * Read back what this node missed after `from`, fan it out, then go on with the deliveries
   * that wait in `held` (the one that showed the gap, and those that came during the read).
   */
  private repair(action: string, feed: Feed, from: string, held: Delivery[]): void {
    feed.held = held;
    const epoch = feed.epoch!;
    let outcome: 'repaired' | 'trimmed' | 'failed' = 'failed';
    let top: string | undefined;
    this.d.broker.history(action, { since: { offset: from, epoch }, limit: feed.policy.count, policy: feed.policy })
      .then((read) => {
        if (this.feeds.get(action) !== feed) return;
        if (!read.recovered || read.top.epoch !== epoch) {
          outcome = 'trimmed';
          if (read.top.epoch === epoch) top = read.top.offset;
          return;
        }
        this.emitRead(action, feed, read, from);
        outcome = 'repaired';
      })
      .catch((err) => this.d.log.warn({ err, action }, 'live gap could not be read back'))
      .finally(() => {
        if (this.feeds.get(action) !== feed) return;
        const waiting = feed.held ?? [];
        feed.held = undefined;
        if (outcome === 'trimmed' || (outcome === 'failed' && waiting.length > 0)) {
          // What history no longer holds (or could not be read) is lost for this node: go on from the next message.
          this.d.onLost?.(1);
          this.d.log.warn({ action, from }, 'live gap not in history; messages lost on this node');
          feed.head = waiting[0]?.position?.prev ?? top ?? feed.head;
        }
        for (const d of waiting) this.process(action, feed, d);
        if (feed.recheck) this.recheck(action, feed);
      });
  }

  private emitRead(action: string, feed: Feed, read: HistoryRead, from: string): void {
    let prev = from;
    for (const m of read.messages) {
      if (feed.head === undefined || compareOffsets(m.offset, feed.head) > 0) this.emit(action, feed, m.offset, prev, withOffset(m.payload, m.offset));
      prev = m.offset;
    }
  }

  /**
   * Catch `conn` up on `action` and attach it to live delivery. The caller made it a member
   * and subscribed this node first (every message published after that reaches the node).
   */
  async join(conn: Connection, action: string, policy: HistoryPolicy, req: CatchUpRequest): Promise<CatchUpResult> {
    const feed = this.feed(action, policy);
    const interruptions = this.interruptions;
    let read = await this.d.broker.history(action, req.since !== undefined
      ? { since: { offset: req.since, epoch: req.epoch }, limit: policy.count, policy }
      : { last: Math.min(req.history ?? 0, policy.count), limit: 0, policy });
    const recovered = read.recovered;
    // Not recovered: the client starts over from the current position, like a plain join.
    const wantsPast = (req.since !== undefined || req.history !== undefined) && recovered !== false;
    const messages = wantsPast ? read.messages.map((m) => withOffset(m.payload, m.offset)) : [];
    let upTo = read.top.offset;
    for (let tries = 0; wantsPast && this.passedAfter(feed, read.top, upTo); tries += 1) {
      const more = feed.recent.after(upTo);
      if (more) {
        messages.push(...more.map((f) => f.frame));
        upTo = feed.head!;
        break;
      }
      if (tries === MAX_REREADS) throw new Error('history moved too fast to catch up; retry the join');
      read = await this.d.broker.history(action, { since: { offset: upTo, epoch: read.top.epoch }, limit: policy.count, policy });
      if (!read.recovered) throw new Error('history was trimmed while catching up; retry the join');
      messages.push(...read.messages.map((m) => withOffset(m.payload, m.offset)));
      upTo = read.top.offset;
    }
    if (!isOpen(conn) || !conn.actions.has(action)) return { position: { offset: upTo, epoch: read.top.epoch }, delivered: 0 };
    feed.epoch ??= read.top.epoch;
    for (const frame of messages) sendTo(conn, frame);
    const live = feed.head !== undefined && feed.epoch === read.top.epoch;
    if (live && compareOffsets(feed.head!, upTo) >= 0) {
      upTo = feed.head!;
      attach(conn, action);
    } else {
      feed.pending.set(conn, upTo);
      // Messages after upTo may have been lost on their way here while the read ran.
      if (interruptions !== this.interruptions) this.recheck(action, feed);
    }
    return { position: { offset: upTo, epoch: read.top.epoch }, ...(recovered === undefined ? {} : { recovered }), delivered: messages.length };
  }

  /** True when live messages after `upTo` already passed this node (same stream). */
  private passedAfter(feed: Feed, top: StreamPosition, upTo: string): boolean {
    return feed.head !== undefined && feed.epoch === top.epoch && compareOffsets(feed.head, upTo) > 0;
  }

  private feed(action: string, policy: HistoryPolicy): Feed {
    let feed = this.feeds.get(action);
    if (!feed) this.feeds.set(action, (feed = { policy, recent: this.budget.forAction(), pending: new Map() }));
    return feed;
  }

  /** `conn` left `action` (or closed): it no longer waits for anything. */
  leave(conn: Connection, action: string): void {
    this.feeds.get(action)?.pending.delete(conn);
  }

  /** The node has no member of `action` left: forget its feed. */
  vacate(action: string): void {
    this.feeds.get(action)?.recent.clear();
    this.feeds.delete(action);
  }
}

function lowest(offsets: Iterable<string>): string | undefined {
  let low: string | undefined;
  for (const o of offsets) if (low === undefined || compareOffsets(o, low) < 0) low = o;
  return low;
}

function attach(conn: Connection, action: string): void {
  if (isOpen(conn) && conn.actions.has(action)) conn.socket?.subscribe(topics.action(action));
}
