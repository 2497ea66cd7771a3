/**
 * The GatewayClient's public types: what it is built from (options, the socket and fetch it
 * is given), what it reports (events, connection status) and the commands it sends. No code.
 */
import type {
  ActionMessage, ClientMessage, ErrorCode, JoinResult, LeftMessage, PresenceCountMessage, PresenceMessage, PresenceResetMessage, ProfileMessage,
  RoomMessage, RoomResetMessage, TokenExpiringMessage, WelcomeMessage,
} from '../../shared/protocol.js';
import type { BackoffPolicy } from './backoff.js';
import type { Timers } from './timers.js';

/** The part of the WebSocket API the client uses (the browser's WebSocket and `ws` fit). */
export interface SocketLike {
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketCtor = new (url: string, protocols?: string | string[]) => SocketLike;
export type FetchLike = (url: string, init: { headers: Record<string, string> }) => Promise<{ status: number }>;

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'connected'; node: string }
  | { state: 'reconnecting'; attempt: number; delayMs: number; retryAt: number; code?: number }
  | { state: 'offline'; reason: 'stopped' | 'auth' };

/** Why the client stopped for good: the token expired, was refused (401), or the backend disconnected the user (close 4003). */
export interface AuthFailure { reason: 'expired' | 'unauthorized' | 'disconnected'; message: string }

export type { JoinResult };

export interface ClientEvents {
  welcome: WelcomeMessage;
  presence: PresenceMessage;
  /**
   * Replace the online set with this snapshot: after a presence store outage, a churn burst, or
   * (`reason: 'listed'`) when the `*` feed lists users again after counting them.
   */
  presenceReset: PresenceResetMessage;
  /**
   * The cluster's online count. On `*`: the feed counts instead of listing (`listed` false; the
   * first one after listing means drop the list). On a list watched with `count: true`: every
   * count change, `listed` saying whether the `*` feed would list users again.
   */
  presenceCount: PresenceCountMessage;
  /** A user this client sees changed their display name or picture. */
  profile: ProfileMessage;
  message: ActionMessage;
  /** Users joined or left a room this client is in (room presence); apply those with `seq` above your `members` page's. */
  room: RoomMessage;
  /** Read the room's `members` again from scratch (sent after the presence store came back from an outage). */
  roomReset: RoomResetMessage;
  /** The backend removed this connection from `action` (POST /api/unsubscribe): it is no longer kept joined. */
  left: LeftMessage;
  status: ConnectionStatus;
  authFailure: AuthFailure;
  /** The server will close with 4001 at `expiresAt` unless a `refresh` command brings a newer token. */
  tokenExpiring: TokenExpiringMessage;
  /** The server acknowledged a join: asked for with join() (`rejoin` false), or repeated after a reconnect. */
  joined: { action: string; result: JoinResult; rejoin: boolean };
  /**
   * A re-join could not recover what was published meanwhile (`recovered: false`): reload the
   * action's state. `reloading`: the action was joined with `history: N`, and the client is
   * already joining it again with `history: N` (its current state comes as messages).
   */
  unrecovered: { action: string; result: JoinResult; reloading: boolean };
  /** The socket closed; `byClient` when this client closed it (stop, dead link). */
  closed: { code: number; reason: string; byClient: boolean };
  /** An `error` frame that answers no pending request, or a refused re-join. */
  serverError: { code: ErrorCode | 'timeout' | 'disconnected'; message: string; action?: string };
}

export interface ClientOptions {
  url: string;
  meUrl: string;
  token: () => string | undefined;
  WebSocket: SocketCtor;
  fetch: FetchLike;
  timers: Timers;
  random: () => number;
  now: () => number;
  backoff?: BackoffPolicy;
  /** Upper bound of the delay after a 1012 close. Default 1000 ms. */
  restartJitterMs?: number;
  /** Open plus welcome must take less than this. Default 10 s. */
  connectTimeoutMs?: number;
  /** A ping must be followed by some frame within this. Default min(10 s, heartbeatMs). */
  pongTimeoutMs?: number;
  /** Default timeout of request(). Default 10 s. */
  requestTimeoutMs?: number;
}

/** A command as the caller writes it: the client adds the id. */
export type Command = { [K in ClientMessage['type']]: Omit<Extract<ClientMessage, { type: K }>, 'id'> }[ClientMessage['type']];
