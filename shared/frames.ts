/**
 * Server → client frames: the one encoder (the gateway) and the one decoder (every client) of
 * each frame in `ServerMessage`. "What can the server send?" is answered here and in
 * protocol.ts: every encoder takes the fields its frame type declares, so a frame that drifts
 * from protocol.ts fails to compile. Nothing else builds a frame by hand.
 *
 * `message` frames have a fixed layout (see messageFrame) so the hot path never parses user
 * data: the frame is encoded once by the publishing node, carried as opaque text by the broker
 * and history, and an offset is appended to it without decoding it.
 *
 * No dependencies: the client package bundles the decoder.
 */
import type {
  AckMessage, ActionMessage, CommandResults, ErrorCode, ErrorMessage, LeftMessage, PongMessage, PresenceChange, PresenceCountMessage,
  PresenceMessage, PresenceResetMessage, ProfileMessage, RequestId, RoomChange, RoomMessage, RoomResetMessage, ServerMessage,
  TokenExpiringMessage, UserInfo, WelcomeMessage,
} from './protocol.js';

/** Any server frame as text. The encoders below are this one with their frame's type filled in. */
export function encodeFrame(msg: ServerMessage): string {
  return JSON.stringify(msg);
}

export function welcomeFrame(fields: Omit<WelcomeMessage, 'type'>): string {
  return encodeFrame({ type: 'welcome', ...fields });
}

export function presenceFrame(changes: PresenceChange[]): string {
  return encodeFrame({ type: 'presence', changes } satisfies PresenceMessage);
}

export function presenceResetFrame(page: { users: string[]; cursor?: string }, reason: NonNullable<PresenceResetMessage['reason']>): string {
  const msg: PresenceResetMessage = { type: 'presence_reset', online: page.users, reason };
  if (page.cursor) msg.onlineCursor = page.cursor;
  return encodeFrame(msg);
}

export function presenceCountFrame(onlineCount: number, listed: boolean): string {
  return encodeFrame({ type: 'presence_count', onlineCount, listed } satisfies PresenceCountMessage);
}

/** An ack; `result` is the command's own result type (CommandResults). */
export function ackFrame<T extends keyof CommandResults>(id: RequestId, result?: CommandResults[T]): string {
  return encodeFrame((result === undefined ? { type: 'ack', id } : { type: 'ack', id, result }) satisfies AckMessage);
}

export function errorFrame(code: ErrorCode, message: string, id?: RequestId): string {
  return encodeFrame((id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message }) satisfies ErrorMessage);
}

export function pongFrame(id: RequestId | undefined, ts: number): string {
  return encodeFrame((id === undefined ? { type: 'pong', ts } : { type: 'pong', id, ts }) satisfies PongMessage);
}

export function tokenExpiringFrame(expiresAt: number): string {
  return encodeFrame({ type: 'token_expiring', expiresAt } satisfies TokenExpiringMessage);
}

export function profileFrame(user: UserInfo): string {
  return encodeFrame({ type: 'profile', user } satisfies ProfileMessage);
}

export function roomFrame(action: string, seq: number, changes: RoomChange[]): string {
  return encodeFrame({ type: 'room', action, seq, changes } satisfies RoomMessage);
}

export function roomResetFrame(action: string): string {
  return encodeFrame({ type: 'room_reset', action } satisfies RoomResetMessage);
}

export function leftFrame(action: string, reason: string): string {
  return encodeFrame({ type: 'left', action, reason } satisfies LeftMessage);
}

// ---- message frames: the fan-out path --------------------------------------------------------

export type MessageFields = Pick<ActionMessage, 'action' | 'from' | 'data' | 'ts'>;

/**
 * The frame members receive, without an offset. Layout, fixed so the two readers below never
 * parse user data:
 *   {"type":"message","action":…,"from":…,"data":…,"ts":<ms>}                 live, no history
 *   {"type":"message","action":…,"from":…,"data":…,"ts":<ms>,"offset":"<id>"} with history
 * `ts` is stamped by the publishing node; `offset` is added by `withOffset` when the frame
 * leaves history or the broker with a stream position, never read back from a frame.
 */
export function messageFrame(m: MessageFields): string {
  return encodeFrame({ type: 'message', action: m.action, from: m.from, data: m.data, ts: m.ts });
}

/** `frame` (built by messageFrame) with its stream offset as the last field. */
export function withOffset(frame: string, offset: string): string {
  return `${frame.slice(0, -1)},"offset":"${offset}"}`;
}

/** Longest tail that holds `"ts":<13 digits>,"offset":"<20>-<20>"}`. */
const TAIL = 80;

/** The `ts` a gateway stamped on a frame built by messageFrame, read from the frame's tail only. */
export function stampedTs(frame: string): number | undefined {
  const tail = frame.slice(-TAIL);
  const at = tail.lastIndexOf('"ts":');
  if (at < 0) return undefined;
  const ts = Number.parseInt(tail.slice(at + 5, at + 5 + 16), 10);
  return Number.isFinite(ts) ? ts : undefined;
}

// ---- decoding (clients) ----------------------------------------------------------------------

/**
 * Fields each frame type must carry, with their JSON type (`s` string, `n` number, `o` object,
 * `a` array). A frame missing one is dropped by decodeFrame rather than handed to the app half-
 * formed. Fields not listed are optional in protocol.ts or free-form (`data`, `result`).
 */
const REQUIRED: { [K in ServerMessage['type']]: Record<string, 's' | 'n' | 'o' | 'a'> } = {
  welcome: { connectionId: 's', node: 's', user: 'o', online: 'a', onlineCount: 'n', heartbeatMs: 'n', limits: 'o' },
  presence: { changes: 'a' },
  presence_reset: { online: 'a' },
  presence_count: { onlineCount: 'n' },
  message: { action: 's', from: 'o', ts: 'n' },
  ack: {},
  pong: {},
  error: { code: 's', message: 's' },
  token_expiring: { expiresAt: 'n' },
  profile: { user: 'o' },
  room: { action: 's', seq: 'n', changes: 'a' },
  room_reset: { action: 's' },
  left: { action: 's' },
};

function kindOf(v: unknown): string {
  return Array.isArray(v) ? 'a' : typeof v === 'object' && v !== null ? 'o' : typeof v === 'string' ? 's' : typeof v === 'number' ? 'n' : '';
}

/**
 * A server frame, or undefined for text that is not one of this protocol's frames (not JSON,
 * an unknown type such as one a newer gateway added, or a required field missing). Never throws.
 */
export function decodeFrame(text: string): ServerMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (kindOf(raw) !== 'o') return undefined;
  const msg = raw as Record<string, unknown>;
  const fields = typeof msg.type === 'string' && Object.prototype.hasOwnProperty.call(REQUIRED, msg.type) ? REQUIRED[msg.type as ServerMessage['type']] : undefined;
  if (!fields) return undefined;
  for (const name in fields) if (kindOf(msg[name]) !== fields[name]) return undefined;
  if (msg.type === 'ack' && typeof msg.id !== 'string' && typeof msg.id !== 'number') return undefined;
  return msg as unknown as ServerMessage;
}
