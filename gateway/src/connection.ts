/**
 * One client connection as the gateway sees it, independent of the socket library.
 * The transport attaches a LocalSocket at open; after `closed` is set nothing may be
 * sent on it (uWebSockets.js throws on a closed socket).
 */
import type { RequestId } from '../../shared/protocol.js';
import type { ChannelMatcher } from './channels/claims.js';
import type { LocalFanout, LocalSocket } from './transport/socket.js';

export type { LocalFanout, LocalSocket };

export interface Connection {
  readonly id: string;
  readonly userId: string;
  readonly username: string;
  /** Changes when the user edits their profile (stamped on later messages). */
  displayName: string;
  /** The user's picture when the connection was admitted (for the welcome); absent without one. */
  avatarUrl?: string;
  /** Token expiry, seconds since the epoch. */
  exp: number;
  /** The token's `channels` claim, compiled (only when the token has one). */
  channels?: ChannelMatcher;
  readonly ip: string;
  /** The actions joined: NO_ACTIONS until the first join (`ownActions` gives the connection its own Set). */
  actions: Set<string>;
  /** Joins being checked or made: they count against MAX_ACTIONS_PER_CONNECTION already. */
  joining: number;
  /** '*' for every presence change, or the set of watched user ids (never mutated: replaced). */
  watching: '*' | ReadonlySet<string>;
  socket?: LocalSocket;
  closed: boolean;
  /** Set once the token-expiry warning was sent for the current `exp`. */
  warned: boolean;
  /** Frame rate limit, a token bucket kept inline (one object fewer per connection): tokens left, last refill (ms). */
  tokens: number;
  at: number;
  /** Rate-limited frames so far (forgiven once the bucket refilled completely). */
  strikes: number;
  /** Consecutive sweeps that found the socket's send buffer near the backpressure cap. */
  stalls: number;
}

/** Refuses `add`: shared, so it must stay empty. */
class SharedEmptySet extends Set<string> {
  override add(): this {
    throw new Error('NO_ACTIONS is shared by every connection that joined nothing: use ownActions(conn)');
  }
}

/** The actions of every connection that joined nothing (an empty Set each would cost ~130 bytes per connection). */
export const NO_ACTIONS: Set<string> = new SharedEmptySet();

/** `conn`'s own Set of actions, allocated at its first join. */
export function ownActions(conn: Connection): Set<string> {
  if (conn.actions === NO_ACTIONS) conn.actions = new Set();
  return conn.actions;
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

export function sendTo(conn: Connection, text: string): boolean {
  return !conn.closed && !!conn.socket && conn.socket.send(text);
}

export function replyError(conn: Connection, id: RequestId | undefined, code: string, message: string): void {
  sendTo(conn, JSON.stringify(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message }));
}
