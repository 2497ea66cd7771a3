/**
 * How much work one connection, and one user across all their connections on this node, may
 * ask of the node. A refused frame or command is answered `rate_limited` (with its id) and
 * writes nothing; only the per-connection frame bucket counts strikes towards the 4029 close.
 *
 * - Frames are weighted by size before decoding: a frame costs 1 + one unit per FRAME_UNIT
 *   bytes, since parsing, validation and the list commands (`users`, `watch`: up to 1,000 ids)
 *   cost in proportion to the bytes. Each connection has MSG_RATE_PER_S units a second (burst
 *   MSG_BURST); the user's connections on this node share USER_SHARE times that, so more
 *   sockets (up to MAX_CONNECTIONS_PER_USER) do not buy more of the node.
 * - `watch` replacements (each re-subscribes up to 1,000 topics and reads their status): at most
 *   WATCH_PER_S a second per user, burst WATCH_BURST.
 * - joins and leaves that change a membership (each may write an event-stream entry and a room
 *   event for every member): at most MEMBERSHIP_PER_S a second per user, with a burst of
 *   MAX_ACTIONS_PER_CONNECTION, so a reconnect re-joins everything at once and a join/leave loop
 *   cannot flood the stream and the webhooks.
 * Per node: a user on several nodes has each node's share (each node's CPU is what is guarded).
 */
import { KeyedLimiter, takeToken, tokensAt } from '../limits/buckets.js';
import type { ConnectionRecord } from './record.js';

export const FRAME_UNIT = 2048;
export const USER_SHARE = 2;
export const WATCH_PER_S = 2;
export const WATCH_BURST = 10;
export const MEMBERSHIP_PER_S = 10;

export interface QuotaLimits { msgRatePerS: number; msgBurst: number; maxActions: number }

/** `connection`: this socket is over its rate (a strike); `user`: the user's sockets together are. */
export type FrameVerdict = 'ok' | 'connection' | 'user';

export interface Quotas {
  frame(conn: ConnectionRecord, text: string, now?: number): FrameVerdict;
  watch(userId: string): boolean;
  membership(userId: string): boolean;
  /** Drop the per-user buckets that refilled (they are the same as none). */
  prune(now?: number): void;
}

/** Units a frame of `length` characters costs. */
export function frameCost(length: number): number {
  return 1 + Math.floor(length / FRAME_UNIT);
}

/** How often the per-user buckets that refilled are dropped (each is ~100 bytes; an idle user keeps none). */
export const PRUNE_EVERY_MS = 1000;

export function createQuotas(l: QuotaLimits): Quotas {
  const users = new KeyedLimiter(l.msgRatePerS * USER_SHARE, l.msgBurst * USER_SHARE);
  const watches = new KeyedLimiter(WATCH_PER_S, WATCH_BURST);
  const memberships = new KeyedLimiter(MEMBERSHIP_PER_S, Math.max(l.maxActions, MEMBERSHIP_PER_S));
  return {
    frame(conn, text, now = Date.now()) {
      const cost = frameCost(text.length);
      // A bucket that refilled completely means the client kept under the rate for a while: strikes are forgiven.
      if (tokensAt(conn, l.msgRatePerS, l.msgBurst, now) >= l.msgBurst) conn.strikes = 0;
      if (!takeToken(conn, l.msgRatePerS, l.msgBurst, now, cost)) return 'connection';
      return users.take(conn.userId, now, cost) ? 'ok' : 'user';
    },
    watch: (userId) => watches.take(userId),
    membership: (userId) => memberships.take(userId),
    prune(now = Date.now()) {
      for (const limiter of [users, watches, memberships]) limiter.prune(now);
    },
  };
}

/** Prune `q` every PRUNE_EVERY_MS until the returned stop is called (so an idle user holds no bucket). */
export function startPruning(q: Pick<Quotas, 'prune'>, everyMs = PRUNE_EVERY_MS): () => void {
  const timer = setInterval(() => q.prune(), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
