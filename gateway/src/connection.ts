/**
 * One client connection as the gateway sees it, independent of the socket library.
 *
 * Ownership: session/ is the only writer (its `ConnectionRecord`, session/record.ts); every
 * other module sees this read-only view and asks. Whether the connection is closed is the
 * transport's to say (`isOpen`): the socket is attached at open, and once the transport saw it
 * close nothing is sent on it.
 */
import { errorFrame } from '../../shared/frames.js';
import type { ErrorCode, RequestId } from '../../shared/protocol.js';
import type { LocalFanout, LocalSocket } from './transport/socket.js';

export type { LocalFanout, LocalSocket };

/** A token's `channels` claim, compiled (channels/claims.ts builds it). */
export interface ChannelMatcher {
  matches(action: string): boolean;
}

export interface Connection {
  readonly id: string;
  readonly userId: string;
  readonly username: string;
  /** Changes when the user edits their profile (stamped on later messages). */
  readonly displayName: string;
  /** The user's picture as last known (for the welcome); absent without one. */
  readonly avatarUrl?: string;
  /** Token expiry, seconds since the epoch. */
  readonly exp: number;
  /** The token's `channels` claim, compiled (only when the token has one). */
  readonly channels?: ChannelMatcher;
  readonly ip: string;
  /** The actions joined (NO_ACTIONS until the first join). */
  readonly actions: ReadonlySet<string>;
  /** Joins being checked or made: they count against MAX_ACTIONS_PER_CONNECTION already. */
  readonly joining: number;
  /** '*' for every presence change, or the set of watched user ids (never mutated: replaced). */
  readonly watching: '*' | ReadonlySet<string>;
  /** Attached at open; absent while the connection is only admitted. */
  readonly socket?: LocalSocket;
  /** Set once the token-expiry warning was sent for the current `exp`. */
  readonly warned: boolean;
  /** Frame rate limit, a token bucket kept inline (one object fewer per connection): tokens left, last refill (ms). */
  readonly tokens: number;
  readonly at: number;
  /** Rate-limited frames so far (forgiven once the bucket refilled completely). */
  readonly strikes: number;
  /** Consecutive sweeps that found the socket's send buffer near the backpressure cap. */
  readonly stalls: number;
}

/** Refuses `add`: shared, so it must stay empty. */
class SharedEmptySet extends Set<string> {
  override add(): this {
    throw new Error('NO_ACTIONS is shared by every connection that joined nothing: give the connection its own Set');
  }
}

/** The actions of every connection that joined nothing (an empty Set each would cost ~130 bytes per connection). */
export const NO_ACTIONS: Set<string> = new SharedEmptySet();

/** Whether `conn` has an open socket: false while only admitted, and from the transport's close event on. */
export function isOpen(conn: Connection): boolean {
  return conn.socket?.isOpen() === true;
}

/** Local topic names: one per action, one per room (room presence), one for all presence, one per watched user, one for counts. */
export const topics = {
  action: (action: string) => `a:${action}`,
  room: (action: string) => `r:${action}`,
  presenceAll: 'p:*',
  presenceOf: (userId: string) => `p:u:${userId}`,
  /** The online count, for sockets watching a list with `count: true` (`*` watchers get it on presenceAll). */
  presenceCount: 'p:#',
};

/** Send a frame (encoded by shared/frames.ts) when the socket is open; false when it was not sent or went past backpressure. */
export function sendTo(conn: Connection, text: string): boolean {
  return conn.socket?.isOpen() === true && conn.socket.send(text);
}

export function replyError(conn: Connection, id: RequestId | undefined, code: ErrorCode, message: string): void {
  sendTo(conn, errorFrame(code, message, id));
}
