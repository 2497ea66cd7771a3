/**
 * Cross-node fan-out of action messages. Knows nothing about sockets or presence.
 *
 * Delivery: at-most-once. `publish` resolves once the bus has accepted the payload
 * and rejects (never queues for later) when the bus is unreachable, so a sender can
 * be told its message did not leave this node. A node never receives what it
 * published itself: local fan-out is the caller's job, done before `publish`.
 * Order is kept per publishing node and topic.
 */
export interface Broker {
  publish(topic: string, payload: string): Promise<void>;
  /** Called by the hub when the first local member joins `topic`. Idempotent. */
  subscribe(topic: string): Promise<void>;
  /** Called by the hub when the last local member leaves `topic`. Idempotent. */
  unsubscribe(topic: string): Promise<void>;
  /** One handler; a later call replaces it. `payload` is exactly what the other node published. */
  onMessage(handler: (topic: string, payload: string) => void): void;
  /** True while publishes can succeed. */
  isReady(): boolean;
  close(): Promise<void>;
}
