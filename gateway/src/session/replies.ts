/**
 * How a command answers: exactly one `ack` or `error` per command that carries an `id`.
 * A handler throws CommandError for a refusal the client caused (its code from the one table
 * in shared/protocol.ts); anything else it throws is answered `unavailable` and logged.
 */
import type { ClientMessage, ErrorCode, RequestId } from '../../../shared/protocol.js';
import { sendTo, type Connection } from '../connection.js';

export type Handler<T extends ClientMessage['type']> = (conn: Connection, msg: Extract<ClientMessage, { type: T }>) => Promise<void> | void;
export type Handlers = { [T in ClientMessage['type']]: Handler<T> };

export class CommandError extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
  }
}

export function ack(conn: Connection, id: RequestId | undefined, result?: unknown): void {
  if (id === undefined) return;
  sendTo(conn, JSON.stringify(result === undefined ? { type: 'ack', id } : { type: 'ack', id, result }));
}
