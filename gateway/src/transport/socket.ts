/**
 * The transport's handles, as the rest of the gateway sees them: one socket, and the
 * fan-out over all local sockets. Implemented over uWebSockets.js in server.ts; nothing
 * outside transport/ touches the library's types.
 */

/** One open socket. After its close event nothing may be sent on it (uWebSockets.js throws). */
export interface LocalSocket {
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
