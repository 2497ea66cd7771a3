/**
 * How a command answers: exactly one `ack` or `error` per command that carries an `id`.
 * A handler throws CommandError for a refusal the client caused (its code from the one table
 * in shared/protocol.ts); anything else it throws is answered `unavailable` and logged.
 */
import { ackFrame } from '../../../shared/frames.js';
import type { ClientMessage, CommandResults, ErrorCode, RequestId } from '../../../shared/protocol.js';
import { sendTo } from '../connection.js';
import type { ConnectionRecord } from './record.js';

export type Handler<T extends ClientMessage['type']> = (conn: ConnectionRecord, msg: Extract<ClientMessage, { type: T }>) => Promise<void> | void;
export type Handlers = { [T in ClientMessage['type']]: Handler<T> };

export class CommandError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/** Answer `cmd` (when it carries an id) with the result its type declares in CommandResults. */
export function ack<T extends keyof CommandResults>(conn: ConnectionRecord, cmd: { type: T; id?: RequestId }, result: CommandResults[T]): void {
  if (cmd.id === undefined) return;
  sendTo(conn, ackFrame<T>(cmd.id, result));
}
