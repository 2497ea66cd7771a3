/**
 * Connection records and sockets for unit tests of session and node logic (no transport).
 * `socket.open` plays the transport's state: set it to false where the transport would have
 * seen the close.
 */
import type { LocalSocket } from '../../src/connection.js';
import { NO_ACTIONS } from '../../src/connection.js';
import type { ConnectionRecord } from '../../src/session/record.js';

export type TestSocket = LocalSocket & { open: boolean };

/** A socket that is open until `open` is set to false; every method a no-op unless given. */
export function testSocket(over: Partial<Omit<LocalSocket, 'isOpen'>> = {}): TestSocket {
  const s: TestSocket = {
    open: true,
    isOpen: () => s.open,
    send: () => true,
    subscribe: () => {},
    unsubscribe: () => {},
    publishExceptSelf: () => {},
    bufferedAmount: () => 0,
    close: () => {},
    ...over,
  };
  return s;
}

/** A record as admission makes one (user id = username = `id` unless given). */
export function testRecord(id: string, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id, userId: id, username: id, displayName: id, exp: 0, ip: '', actions: NO_ACTIONS, joining: 0, watching: '*',
    warned: false, tokens: 10, at: Date.now(), strikes: 0, stalls: 0, socket: undefined, ...over,
  };
}
