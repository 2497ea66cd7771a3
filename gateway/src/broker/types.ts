/**
 * Cross-node fan-out of action messages, and the history of the actions that keep one.
 * Knows nothing about sockets or presence. One owner for a topic's channel and its
 * history stream, so appending and publishing are one atomic step (as centrifuge's
 * `Broker.Publish` with `HistorySize`).
 *
 * Delivery contract:
 * - Plain topics: at-most-once. `publish` resolves once the bus accepted the payload and
 *   rejects (never queues for later) when the bus is unreachable. A node never receives
 *   what it published itself: local fan-out is the caller's job, done before `publish`.
 *   Order is kept per publishing node and topic.
 * - History topics (`publish` with `{ history }`): the message is appended to the topic's
 *   stream and published in one atomic step, to EVERY subscribed node, the publisher
 *   included, with its position. So every node sees the stream's order, and a receiver can
 *   tell a gap in what it received (`prev` is not the last offset it saw) and read the
 *   missing messages back with `history`.
 * - `epoch` names one incarnation of a stream: when the stream is recreated (it expired, or
 *   Redis came back empty) its offsets start over under a new epoch, and a position of
 *   the old epoch never matches the new stream.
 */

/** How much of a topic's past is kept: at most `count` messages, none older than `ageMs`. */
export interface HistoryPolicy { count: number; ageMs: number }

/** A point in a topic's stream: every message at or before `offset` (of `epoch`) is behind it. */
export interface StreamPosition { offset: string; epoch: string }

/** What a subscribed node receives. */
export interface Delivery {
  topic: string;
  /** Exactly what the publisher passed. */
  payload: string;
  /** History topics only: the message's place in the stream, and the offset just before it. */
  position?: StreamPosition & { prev: string };
}

export interface HistoryQuery {
  /** Messages after this position (recovery). Without `epoch`, any epoch is taken as the current one. */
  since?: { offset: string; epoch?: string };
  /** Otherwise: the last `last` messages (0: only the current position). */
  last?: number;
  /** At most this many messages (since). */
  limit: number;
  /** The topic's policy: a read of a stream that does not exist yet starts its epoch with this lifetime. */
  policy: HistoryPolicy;
}

export interface HistoryRead {
  /** `since` reads only: false when messages after `since` were trimmed (count or age), the epoch differs, or `since` lies beyond the stream's end. */
  recovered?: boolean;
  /** Oldest first; `payload` as published. Empty when not recovered. */
  messages: Array<{ offset: string; payload: string }>;
  /** The stream's position when it was read: the last message's offset (ORIGIN when empty). */
  top: StreamPosition;
}

export interface Broker {
  /** Returns the message's position for history topics. */
  publish(topic: string, payload: string, opts?: { history?: HistoryPolicy }): Promise<Partial<StreamPosition>>;
  /** Called by the hub when the first local member joins `topic`. Idempotent. */
  subscribe(topic: string): Promise<void>;
  /** Called by the hub when the last local member leaves `topic`. Idempotent. */
  unsubscribe(topic: string): Promise<void>;
  /** One handler; a later call replaces it. */
  onMessage(handler: (delivery: Delivery) => void): void;
  /**
   * One handler, called when live delivery is back after an interruption (the subscriber
   * reconnected and every wanted topic is subscribed again): messages published meanwhile
   * were not delivered and never will be; history topics can read them back.
   */
  onResumed(handler: () => void): void;
  /** One atomic read of a history topic's stream and its current position. */
  history(topic: string, query: HistoryQuery): Promise<HistoryRead>;
  /** True while publishes can succeed. */
  isReady(): boolean;
  close(): Promise<void>;
}
