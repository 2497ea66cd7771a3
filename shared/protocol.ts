/**
 * Wire protocol shared by the gateway and the browser client: JSON text frames.
 * PROTOCOL.md is the prose version of this file; keep them in step.
 */

/** Identifier a client may attach to a command; the answer (ack or error) echoes it. */
export type RequestId = string | number;

/**
 * Actions with history only: `since` is the last offset received (or the `offset` of the
 * previous join's ack), `epoch` the stream's epoch from that ack; the messages after it are
 * delivered before live ones, each once, in order. `history`: deliver the last N messages as
 * initial state.
 */
export interface JoinCommand {
  type: 'join'; action: string; since?: string; epoch?: string; history?: number;
  /** A subscription token from the app's backend, for namespaces with subscribe "token". */
  token?: string;
  id?: RequestId;
}
/**
 * Several joins in one frame (a reconnecting client's whole set, each with its position): each
 * is judged and answered as its own `join` would be; one ack carries every result, in order,
 * after the history of every action was delivered. At most 100 joins.
 */
export interface JoinsCommand { type: 'joins'; joins: Array<Omit<JoinCommand, 'type' | 'id'>>; id?: RequestId }
/** One refused join of a `joins` frame: the error its own `join` would have got. */
export interface JoinRefusal { action: string; joined: false; error: { code: ErrorCode; message: string } }
/** The `result` of a `joins` ack: one entry per join of the frame, in its order. */
export interface JoinsResult { results: Array<JoinResult | JoinRefusal> }
/** A page of an action's members (namespaces with room presence; members only). */
export interface MembersCommand { type: 'members'; action: string; cursor?: string; id?: RequestId }

/**
 * The `result` of a join's ack. On actions with history, `offset` and `epoch` are the stream
 * position the member has everything up to: live messages follow it with no gap and no repeat.
 */
export interface JoinResult {
  action: string;
  /** False only when a `leave` (or the server's unsubscribe) overtook this join. */
  joined: boolean;
  offset?: string;
  epoch?: string;
  /** `since` joins: false when the messages after `since` are no longer all kept (or the epoch changed). */
  recovered?: boolean;
  /** `since` and `history` joins: messages delivered from history before live ones. */
  delivered?: number;
}
export interface LeaveCommand { type: 'leave'; action: string; id?: RequestId }
export interface PublishCommand { type: 'publish'; action: string; data: unknown; echo?: boolean; id?: RequestId }
export interface PingCommand { type: 'ping'; id?: RequestId }
export interface SearchCommand { type: 'search'; q: string; limit?: number; id?: RequestId }
/** Narrow the presence feed to these users, or `"*"` for every change (the default). */
/** `count` (lists only): also receive `presence_count` frames, whether the `*` feed lists or counts. */
export interface WatchCommand { type: 'watch'; users: string[] | '*'; count?: boolean; id?: RequestId }
/** Ack of `watch`: `online` for a list; the cluster's online count and whether the `*` feed lists users, for both. */
export interface WatchResult { watching: number | '*'; online?: string[]; onlineCount: number; onlineListed: boolean }
/** Page through the online set past what the welcome carried. */
export interface OnlineCommand { type: 'online'; cursor?: string; id?: RequestId }

/** Look up names and pictures of user ids (e.g. those in `welcome.online`); unknown ids are left out. */
export interface UsersCommand { type: 'users'; ids: string[]; id?: RequestId }

/** Replace the connection's token with a newer one for the same user before it expires. */
export interface RefreshCommand { type: 'refresh'; token: string; id?: RequestId }

export type ClientMessage =
  | JoinCommand | JoinsCommand | LeaveCommand | PublishCommand | PingCommand
  | SearchCommand | WatchCommand | OnlineCommand | RefreshCommand | UsersCommand | MembersCommand;

export type ClientMessageType = ClientMessage['type'];

export interface UserInfo {
  id: string;
  username: string;
  displayName: string;
  /** Profile picture URL (versioned, cacheable); absent without one. */
  avatarUrl?: string;
}

export interface WelcomeMessage {
  type: 'welcome';
  connectionId: string;
  node: string;
  user: UserInfo;
  /** At most `limits.welcomeOnline` ids; when `onlineCursor` is set, page the rest with `online`. Empty while the `*` feed counts. */
  online: string[];
  onlineCount: number;
  onlineCursor?: string;
  /**
   * False while more than PRESENCE_LIST_MAX users are online: the `*` feed then sends
   * `presence_count` frames instead of changes, `online` is empty; watch a list for per-user status.
   */
  onlineListed: boolean;
  /** Send an application `ping` at least this often; the server drops sockets idle for about twice as long. */
  heartbeatMs: number;
  limits: { maxPayloadBytes: number; welcomeOnline: number };
}

export type PresenceStatus = 'online' | 'offline';
/** A user's first connection joined an action (`joined`), or its last one left (`left`). */
export interface RoomChange { userId: string; username: string; status: 'joined' | 'left'; ts: number }
/** Sent to the members of an action with room presence; apply those with `seq` above your `members` page's. */
export interface RoomMessage { type: 'room'; action: string; seq: number; changes: RoomChange[] }
/** Read `members` again: sent after Redis came back from an outage (room changes made during it were not published). */
export interface RoomResetMessage { type: 'room_reset'; action: string }
/** The `result` of a `members` ack. */
export interface MembersResult { action: string; users: UserInfo[]; count: number; seq: number; cursor?: string }
export interface PresenceChange { userId: string; username: string; status: PresenceStatus; ts: number }
export interface PresenceMessage { type: 'presence'; changes: PresenceChange[] }

/** A publisher identity stamped by the gateway from the verified token, never from the payload. */
export interface Sender { userId: string; username: string; displayName?: string }
/** `from` is a user for client publishes, `{ system: true }` for the publish API. */
export interface ActionMessage { type: 'message'; action: string; from: Sender | { system: true }; data: unknown; offset?: string; ts: number }

export interface AckMessage { type: 'ack'; id: RequestId; result?: unknown }
export interface PongMessage { type: 'pong'; id?: RequestId; ts: number }
export interface ErrorMessage { type: 'error'; id?: RequestId; code: ErrorCode; message: string }

/**
 * Replace your online set with this snapshot (page the rest with `online` when `onlineCursor`
 * is set). Sent after Redis came back from an outage: changes made during it were not published.
 * Sent to sockets watching '*'; a socket watching a list should re-send its `watch`.
 */
/**
 * `reason`: 'outage' (Redis came back; changes made meanwhile were never published), 'churn' (a
 * window's changes would not fit one frame) or 'listed' (the `*` feed lists users again: the
 * online set shrank to PRESENCE_LIST_MAX * 0.9 or fewer).
 */
export interface PresenceResetMessage { type: 'presence_reset'; online: string[]; onlineCursor?: string; reason?: 'outage' | 'churn' | 'listed' }

/**
 * The cluster's online count. To `*` watchers while the feed counts instead of listing
 * (`listed` false; the first one after listing means: drop your list); to sockets that watch a
 * list with `count: true` whenever the count changes. At most one per presence window.
 */
export interface PresenceCountMessage { type: 'presence_count'; onlineCount: number; listed: boolean }

/** The server removed this connection from `action` (the backend's `POST /api/unsubscribe`). */
export interface LeftMessage { type: 'left'; action: string; reason: string }

/** A user's profile changed (display name or picture): sent to sockets that see that user. */
export interface ProfileMessage { type: 'profile'; user: UserInfo }

/** Sent once, `TOKEN_EXPIRY_WARNING_S` before the token expires: send `refresh` or be closed with 4001. */
export interface TokenExpiringMessage { type: 'token_expiring'; expiresAt: number }

export type ServerMessage =
  | WelcomeMessage | PresenceMessage | ActionMessage | AckMessage | PongMessage | ErrorMessage | TokenExpiringMessage | ProfileMessage | PresenceResetMessage
  | PresenceCountMessage
  | RoomMessage | RoomResetMessage | LeftMessage;

export interface SearchUser extends UserInfo { online: boolean }
export interface SearchResult { users: SearchUser[] }
export interface OnlinePage { users: string[]; cursor?: string }
/** The `result` of a `leave` ack. */
export interface LeaveResult { action: string; joined: false }
/** The `result` of a `publish` ack: the gateway's stamp, and the stream offset on actions with history. */
export interface PublishResult { ts: number; offset?: string }
/** The `result` of a `users` ack: the profiles of the ids the directory knows. */
export interface UsersResult { users: UserInfo[] }
/** The `result` of a `refresh` ack: when the connection's token now expires (ms since the epoch). */
export interface RefreshResult { expiresAt: number }

/**
 * The `result` of each command's ack, by command type (`ping` is answered by a `pong` frame,
 * never an ack). The gateway's `ack` and the client's `request` are typed by this table.
 */
export interface CommandResults {
  join: JoinResult;
  joins: JoinsResult;
  leave: LeaveResult;
  publish: PublishResult;
  ping: never;
  search: SearchResult;
  watch: WatchResult;
  online: OnlinePage;
  users: UsersResult;
  refresh: RefreshResult;
  members: MembersResult;
}

/**
 * The one table of error codes sent in `error` frames and in HTTP error bodies.
 * The connection stays open after every one of these; closes use CloseCode.
 */
export const ErrorCodes = {
  bad_json: 'frame is not valid JSON',
  bad_request: 'message is missing a field or has a field of the wrong type',
  unknown_type: 'message type is not part of the protocol',
  not_member: 'join the action before publishing to it',
  rate_limited: 'too many messages; slow down',
  unauthorized: 'missing, invalid or expired access token',
  forbidden: 'not allowed: the message names the rule that refused (origin, channel policy)',
  not_found: 'no such resource',
  too_large: 'payload exceeds the size limit',
  too_many_actions: 'this connection has joined too many actions',
  unavailable: 'a backing service (Redis, directory) is unreachable; retry later',
  internal: 'unexpected server error',
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

/** WebSocket close codes the gateway uses (RFC 6455 range plus the private 4xxx range). */
export const CloseCodes = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  serviceRestart: 1012,
  tokenExpired: 4001,
  /** The backend disconnected this user (`POST /api/disconnect`): do not reconnect without a new token. */
  disconnected: 4003,
  slowConsumer: 4008,
  rateLimited: 4029,
} as const;
export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes];

/** Most joins in one `joins` frame (a larger one is refused `bad_request`, nothing joined). */
export const MAX_BATCHED_JOINS = 100;

/** HTTP fallback: most client frames (lines) in one `POST /http/send`; more is refused 413, none taken. */
export const HTTP_SEND_MAX_FRAMES = 256;

/**
 * Action names: 1 to 128 characters of letters, digits and `_ - . : / @`, optionally followed by
 * `#` and a comma-separated list of 1 to 16 user ids of the same characters (a user-limited
 * action, e.g. `dm#42,43`: only those users may join it). At most 256 characters in all.
 * The namespace is the part before the first `:` (`default` without one).
 */
export const ACTION_NAME = /^(?=.{1,256}$)[A-Za-z0-9_.:\-/@]{1,128}(#[A-Za-z0-9_.:\-/@]{1,128}(,[A-Za-z0-9_.:\-/@]{1,128}){0,15})?$/;
