/**
 * Local connections of this node, by id and by action, and the bridge between them and
 * the broker: the first local member of an action subscribes this node to it, the last
 * one leaving unsubscribes. Messages from other nodes are fanned out to local members
 * through the transport's topics, as received (no decoding on the relay path).
 */
import type { Broker } from './broker/types.js';
import { topics, type Connection, type LocalFanout } from './connection.js';
import type { Logger } from './log.js';
import type { NodeAccount } from './presence/types.js';

export class Hub {
  private readonly conns = new Map<string, Connection>();
  /** action -> number of local connections that joined it. */
  private readonly members = new Map<string, number>();

  constructor(private readonly broker: Broker, private readonly fanout: LocalFanout, private readonly log: Logger) {
    broker.onMessage((topic, payload) => this.fanout.publish(topics.action(topic), payload));
  }

  add(conn: Connection): void {
    this.conns.set(conn.id, conn);
  }

  /** Forget `conn` and its action memberships; resolves once broker unsubscriptions were sent. */
  async remove(conn: Connection): Promise<void> {
    this.conns.delete(conn.id);
    await Promise.all([...conn.actions].map((action) => this.dropMember(action)));
  }

  get size(): number {
    return this.conns.size;
  }

  all(): IterableIterator<Connection> {
    return this.conns.values();
  }

  /**
   * Make `conn` a member of `action`. Resolves once this node is subscribed on the broker,
   * so every message published anywhere after that reaches the connection.
   */
  async join(conn: Connection, action: string): Promise<void> {
    conn.actions.add(action);
    conn.socket?.subscribe(topics.action(action));
    const count = (this.members.get(action) ?? 0) + 1;
    this.members.set(action, count);
    if (count === 1) await this.broker.subscribe(action);
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
    try {
      await this.broker.unsubscribe(action);
    } catch (err) {
      this.log.warn({ err, action }, 'broker unsubscribe failed; stray messages will find no local member');
    }
  }

  /** Actions with at least one local member: what the broker must be subscribed to. */
  localActions(): string[] {
    return [...this.members.keys()];
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
