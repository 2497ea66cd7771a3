/**
 * Local connections of this node, by id and by action, and the bridge between them and
 * the broker: the first local member of an action subscribes this node to it, the last
 * one leaving unsubscribes. What the broker delivers is fanned out to local members
 * through the transport's topics, as received (no decoding on the relay path); history
 * messages go through the history feeds, which decide by offset who gets what.
 *
 * Reserved topics (names starting with `$`, which actions cannot use) carry node-level
 * messages such as profile changes; their handler runs instead of a fan-out.
 */
import { isOpen, topics, type Connection, type LocalFanout } from '../connection.js';
import type { Broker, Delivery } from '../broker/types.js';
import type { HistoryFeeds } from '../history/feeds.js';
import type { Logger } from '../log.js';
import type { NodeAccount } from '../presence/types.js';
import type { RoomFeed } from './rooms.js';
import { decodeSystem, encodeSystem, type SystemMessage, type SystemTopic } from './cluster-messages.js';

/**
 * Generic over the connection records it holds (session/'s ConnectionRecord in the gateway): the
 * hub reads a connection's actions but never changes them; session/ records a membership
 * before `join` and removes it before `leave`.
 */
export class Hub<C extends Connection = Connection> {
  private readonly conns = new Map<string, C>();
  /** action -> number of local connections that joined it. */
  private readonly members = new Map<string, number>();
  /** action -> the broker subscription every local member of it waits for. */
  private readonly subscriptions = new Map<string, Promise<void>>();
  /** Connections whose socket closed but which presence still counts (grace window). */
  private readonly released = new Set<string>();
  private readonly system = new Map<string, (payload: string) => void>();
  /** Actions with room presence that this node watches (while it has members there). */
  private readonly rooms = new Set<string>();
  private open = 0;

  constructor(
    private readonly broker: Broker,
    private readonly fanout: LocalFanout,
    private readonly feeds: HistoryFeeds,
    private readonly roomFeed: RoomFeed,
    private readonly log: Logger,
    /** Called once per plain message fanned out from the bus (metrics). */
    private readonly onRelay: (frame: string) => void = () => {},
  ) {
    broker.onMessage((delivery) => this.deliver(delivery));
    broker.onResumed(() => this.feeds.resume());
  }

  /**
   * Handle a node-to-node topic (cluster-messages.ts) on this node; the broker is subscribed to
   * it for the node's lifetime. A message that does not decode is logged and dropped.
   */
  async onSystem<T extends SystemTopic>(kind: T, handler: (msg: SystemMessage<T>) => void, topic: string = kind): Promise<void> {
    this.system.set(topic, (payload) => {
      const msg = decodeSystem(kind, payload);
      if (msg) handler(msg);
      else this.log.warn({ topic }, 'dropped a node-to-node message that does not decode');
    });
    await this.broker.subscribe(topic);
  }

  /**
   * Send a node-to-node message (at most once per receiver; rejects while the bus is unreachable)
   * on `topic`: the kind's own (every other node), or a node's own (streamTopic).
   */
  async toNodes<T extends SystemTopic>(kind: T, msg: SystemMessage<T>, topic: string = kind): Promise<void> {
    await this.broker.publish(topic, encodeSystem(kind, msg));
  }

  private deliver(d: Delivery): void {
    const system = this.system.get(d.topic);
    if (system) return system(d.payload);
    if (!this.members.has(d.topic)) return;
    if (d.position) return this.feeds.relay(d);
    this.fanout.publish(topics.action(d.topic), d.payload);
    this.onRelay(d.payload);
  }

  /** Count `conn` in this node's account (from admission on, before its socket exists). */
  add(conn: C): void {
    this.conns.set(conn.id, conn);
    this.open += 1;
  }

  /**
   * The socket closed: drop its local action memberships at once. The connection stays in
   * the account (presence) until `forget`, which the caller delays by the grace window.
   */
  async release(conn: Connection): Promise<void> {
    if (!this.conns.has(conn.id) || this.released.has(conn.id)) return;
    this.released.add(conn.id);
    this.open -= 1;
    await Promise.all([...conn.actions].map((action) => {
      this.feeds.leave(conn, action);
      return this.dropMember(action);
    }));
  }

  /** Remove `conn` from the account: issued together with the presence store's disconnect. */
  forget(conn: Connection): void {
    if (!this.released.has(conn.id) && this.conns.has(conn.id)) this.open -= 1;
    this.released.delete(conn.id);
    this.conns.delete(conn.id);
  }

  /** Connections whose socket is open (or being admitted). */
  get size(): number {
    return this.open;
  }

  /** Every counted connection, lingering ones (closed, within the grace window) included. */
  all(): IterableIterator<C> {
    return this.conns.values();
  }

  /** Distinct users with a counted connection. */
  users(): number {
    return new Set([...this.conns.values()].map((c) => c.userId)).size;
  }

  /**
   * `conn` became a member of `action` (session/ recorded it in `conn.actions` first). Resolves
   * once this node is subscribed on the broker (and, with `room`, watches the room's events), so
   * every message published anywhere after that reaches the node; `attach` then starts live
   * delivery to the socket (history actions attach through the feeds instead). Rejects when the
   * subscription failed: the caller removes the membership and calls `left`.
   */
  async join(conn: Connection, action: string, opts: { attach: boolean; room: boolean }): Promise<void> {
    this.members.set(action, (this.members.get(action) ?? 0) + 1);
    let subscribed = this.subscriptions.get(action);
    if (!subscribed) {
      if (opts.room) this.rooms.add(action);
      subscribed = opts.room
        ? Promise.all([this.broker.subscribe(action), this.roomFeed.watch(action)]).then(() => undefined)
        : this.broker.subscribe(action);
      this.subscriptions.set(action, subscribed);
    }
    try {
      await subscribed;
    } catch (err) {
      if (this.subscriptions.get(action) === subscribed) this.subscriptions.delete(action);
      throw err;
    }
    if (!isOpen(conn) || !conn.actions.has(action)) return;
    if (opts.attach) conn.socket?.subscribe(topics.action(action));
    if (this.rooms.has(action)) conn.socket?.subscribe(topics.room(action));
  }

  /**
   * `conn` is no member of `action` any more (session/ removed it from `conn.actions`): stop its
   * delivery and count it out (a closed connection was counted out by `release` already).
   */
  async left(conn: Connection, action: string): Promise<void> {
    if (isOpen(conn)) {
      conn.socket?.unsubscribe(topics.action(action));
      if (this.rooms.has(action)) conn.socket?.unsubscribe(topics.room(action));
    }
    this.feeds.leave(conn, action);
    // A connection released (or already forgotten) was counted out of every action by `release`.
    if (this.conns.has(conn.id) && !this.released.has(conn.id)) await this.dropMember(action);
  }

  private async dropMember(action: string): Promise<void> {
    const count = (this.members.get(action) ?? 1) - 1;
    if (count > 0) {
      this.members.set(action, count);
      return;
    }
    this.members.delete(action);
    this.subscriptions.delete(action);
    this.feeds.vacate(action);
    const room = this.rooms.delete(action) ? this.roomFeed.unwatch(action) : undefined;
    try {
      await Promise.all([this.broker.unsubscribe(action), room]);
    } catch (err) {
      this.log.warn({ err, action }, 'unsubscribe failed; stray messages will find no local member');
    }
  }

  /** This node's share of presence and membership, rebuilt from its live connections. */
  account(): NodeAccount {
    const users: NodeAccount['users'] = new Map();
    const memberships: NodeAccount['memberships'] = new Map();
    for (const c of this.conns.values()) {
      const entry = users.get(c.userId);
      if (entry) entry.count += 1;
      else users.set(c.userId, { count: 1, username: c.username });
      if (c.actions.size > 0) memberships.set(c.id, { userId: c.userId, username: c.username, actions: new Set(c.actions) });
    }
    return { users, memberships };
  }

  /** Memberships of every counted connection (what this node's index in the store should hold). */
  membershipCount(): number {
    let n = 0;
    for (const c of this.conns.values()) n += c.actions.size;
    return n;
  }
}
