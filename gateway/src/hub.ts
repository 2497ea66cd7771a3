/**
 * Local connections of this node, by id and by action, and the bridge between them and
 * the broker: the first local member of an action subscribes this node to it, the last
 * one leaving unsubscribes. Messages from other nodes are fanned out to local members
 * through the transport's topics, as received (no decoding on the relay path).
 */
import type { Broker } from './broker/types.js';
import { topics, type Connection, type LocalFanout } from './connection.js';
import type { Logger } from './log.js';
import { compareOffsets, offsetOf, type StoredMessage } from './history/types.js';
import type { NodeAccount } from './presence/types.js';

/** History frames kept per action to close the gap between a history read and live delivery. */
const RECENT_KEEP = 256;

export class Hub {
  private readonly conns = new Map<string, Connection>();
  /** action -> number of local connections that joined it. */
  private readonly members = new Map<string, number>();
  /** Connections whose socket closed but which presence still counts (grace window). */
  private readonly released = new Set<string>();
  private open = 0;

  /** action -> frames with an offset relayed lately (history actions), oldest first. */
  private readonly recent = new Map<string, StoredMessage[]>();
  private readonly system = new Map<string, (payload: string) => void>();

  constructor(
    private readonly broker: Broker,
    private readonly fanout: LocalFanout,
    private readonly log: Logger,
    private readonly onRelay: (payload: string) => void = () => {},
  ) {
    broker.onMessage((topic, payload) => this.relay(topic, payload));
  }

  /**
   * Handle a reserved bus topic (names starting with `$`, which actions cannot use) on this
   * node; the broker is subscribed to it for the node's lifetime.
   */
  async onSystem(topic: string, handler: (payload: string) => void): Promise<void> {
    this.system.set(topic, handler);
    await this.broker.subscribe(topic);
  }

  /** Fan a frame from the bus out to local members; history frames are also kept briefly. */
  relay(action: string, payload: string): void {
    const system = this.system.get(action);
    if (system) return system(payload);
    if (!this.members.has(action)) return;
    this.fanout.publish(topics.action(action), payload);
    const offset = offsetOf(payload);
    if (offset) {
      const list = this.recent.get(action) ?? [];
      list.push({ offset, frame: payload });
      if (list.length > RECENT_KEEP) list.shift();
      this.recent.set(action, list);
    }
    this.onRelay(payload);
  }

  /** History frames relayed here with an offset after `offset`, oldest first. */
  recentAfter(action: string, offset: string): StoredMessage[] {
    return (this.recent.get(action) ?? []).filter((m) => compareOffsets(m.offset, offset) > 0);
  }

  /** Count `conn` in this node's account (from admission on, before its socket exists). */
  add(conn: Connection): void {
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
    await Promise.all([...conn.actions].map((action) => this.dropMember(action)));
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
  all(): IterableIterator<Connection> {
    return this.conns.values();
  }

  /** Distinct users with a counted connection. */
  users(): number {
    return new Set([...this.conns.values()].map((c) => c.userId)).size;
  }

  /**
   * Make `conn` a member of `action`. Resolves once this node is subscribed on the broker,
   * so every message published anywhere after that reaches the connection.
   */
  async join(conn: Connection, action: string, attachSocket = true): Promise<void> {
    conn.actions.add(action);
    if (attachSocket) this.attach(conn, action);
    const count = (this.members.get(action) ?? 0) + 1;
    this.members.set(action, count);
    if (count === 1) await this.broker.subscribe(action);
  }

  /** Start live delivery of `action` to the socket (after any catch-up was sent). */
  attach(conn: Connection, action: string): void {
    if (!conn.closed) conn.socket?.subscribe(topics.action(action));
  }

  async leave(conn: Connection, action: string): Promise<void> {
    if (!conn.actions.delete(action)) return;
    if (!conn.closed) conn.socket?.unsubscribe(topics.action(action));
    await this.dropMember(action);
  }

  private async dropMember(action: string): Promise<void> {
    const count = (this.members.get(action) ?? 1) - 1;
    if (count > 0) {
      this.members.set(action, count);
      return;
    }
    this.members.delete(action);
    this.recent.delete(action);
    try {
      await this.broker.unsubscribe(action);
    } catch (err) {
      this.log.warn({ err, action }, 'broker unsubscribe failed; stray messages will find no local member');
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
      if (c.actions.size > 0) memberships.set(c.id, new Set(c.actions));
    }
    return { users, memberships };
  }
}
