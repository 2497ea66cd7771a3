/**
 * The transport's handles, as the rest of the gateway sees them: one socket, and the
 * fan-out over all local sockets. Implemented over uWebSockets.js in server.ts; nothing
 * outside transport/ touches the library's types.
 */

/**
 * One socket. The transport is the one judge of whether it is open: `isOpen()` is false from its
 * close event on, and nothing may be sent on it then (uWebSockets.js throws on a closed socket).
 */
export interface LocalSocket {
  isOpen(): boolean;
  /** Returns false when the frame was dropped or only buffered past the backpressure limit. */
  send(text: string): boolean;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Publish to a local topic, excluding this socket. */
  publishExceptSelf(topic: string, text: string): void;
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

/** Fan-out through the transport's topics: one encode, every subscribed local socket. */
export interface LocalFanout {
  publish(topic: string, text: string): void;
  subscribers(topic: string): number;
}

/** What an upgrade request offers before a socket exists. */
export interface UpgradeRequest {
  /** Raw query string, without '?'. */
  query: string;
  /** Sec-WebSocket-Protocol header as sent. */
  protocols: string;
  origin: string;
  /** The client's address (see clientIp). */
  ip: string;
}

export type Admission<T> = { ok: true; data: T; protocol: string } | { ok: false; status: number; reason: string };

export interface SocketHandlers<T> {
  admit(req: UpgradeRequest): Promise<Admission<T>>;
  /** The client went away between admission and upgrade: undo the admission. */
  abandon(data: T): void;
  opened(data: T, socket: LocalSocket): void;
  message(data: T, text: string): void;
  binary(data: T): void;
  drained(data: T): void;
  closed(data: T, code: number): void;
}
