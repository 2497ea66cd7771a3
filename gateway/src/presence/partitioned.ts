/**
 * Presence spread over K partitions, each a whole PresenceStore of its own (on Redis Cluster:
 * its own hash tag, so its own slot, and its scripts stay atomic; ./partitions.ts places the
 * tags). A user belongs to partition partitionOf(userId): their counter, their share of the
 * online set, this node's account of their connections, their online/offline events. An
 * action belongs to partitionOf(action): its members, their names, its room events and seq,
 * its entry in the actions index, and this node's index of memberships in it.
 *
 * Contract: the PresenceStore contract holds per partition. What changes across partitions:
 * - Presence events: each partition numbers its own (`PresenceEvent.partition`); a welcome
 *   snapshot carries `seqs`, one per partition. A room lives in one partition, so its room
 *   seq and its member pages compare as before.
 * - A disconnect leaves the connection's rooms (each in one step, in its action's partition)
 *   before it counts the user out in the user's partition; the two are not one step.
 * - `sync`, `refreshLease`, `reap` and `audit` run in every partition (this node holds a lease
 *   in each); a lease lost in any partition reports `lost`, and `sync` replaces the node's
 *   share in all of them.
 * - `connect`'s snapshot: while the whole online set fits `snapshotLimit` (by this node's view)
 *   every partition is read with it and the snapshot is complete, as on one Redis. Otherwise
 *   it is exact for the user's own partition, its `online` page is that partition's and the
 *   cursor walks the others after it; the other partitions' counts and seqs are this node's
 *   view: read at start and at every lease refresh, moved by each event in between, and read
 *   again after a missing or repeated seq.
 * - Pages (`online`, `channels`) walk the partitions in turn, with the same guarantees as one.
 */
import { formatWalk, parseWalk, partitionOf, walkPages } from './partitions.js';
import type {
  ChannelInfo, ConnectResult, DriftRepair, LeaseState, NodeAccount, NodeInfo, PresenceEvent, PresenceStore, RoomEvent, RoomPage,
} from './types.js';
import type { Logger } from '../log.js';

/** A partition: one store, able to read its online count with the seq it matches. */
export interface PartitionStore extends PresenceStore {
  /** The online count, its seq and, when the count is at most `limit`, every id, in one step. */
  peek(limit?: number): Promise<{ seq: number; onlineCount: number; online: string[] }>;
}

interface View { seq: number; count: number }
type Peek = Awaited<ReturnType<PartitionStore['peek']>>;

/** How long one read of a partition serves the welcomes of other connects (see peekShared). */
const PEEK_SHARE_MS = 50;

/** `items` grouped by `key`, each group in the items' order. */
function groupBy<T>(items: T[], key: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

export class PartitionedPresenceStore implements PresenceStore {
  private readonly views: View[];
  private readonly reading: boolean[];
  private readonly peeks: Array<{ at: number; limit: number; read: Promise<Peek> } | undefined>;
  private handler: (event: PresenceEvent) => void = () => {};

  constructor(private readonly parts: PartitionStore[], private readonly log?: Logger) {
    if (parts.length < 2) throw new TypeError('partitioned presence needs at least two partitions');
    this.views = parts.map(() => ({ seq: 0, count: 0 }));
    this.reading = parts.map(() => false);
    this.peeks = parts.map(() => undefined);
    parts.forEach((part, p) => part.onEvent((event) => this.receive(p, event)));
  }

  private actionPart(action: string): PartitionStore {
    return this.parts[partitionOf(action, this.parts.length)];
  }

  /** Keeps this node's view of partition p, then hands the event on, tagged. */
  private receive(p: number, event: PresenceEvent): void {
    const view = this.views[p];
    if (event.seq === view.seq + 1) {
      for (const c of event.changes) view.count += c.status === 'online' ? 1 : -1;
      view.seq = event.seq;
    } else {
      // Missed events, one a read already counted, or a partition that restarted (its seq
      // starts over): this view cannot tell which, so it reads the partition again.
      if (event.seq > view.seq) view.seq = event.seq;
      void this.refresh(p, true);
    }
    this.handler({ ...event, partition: p });
  }

  /**
   * Reads partition p's count and seq. A routine read (`force` false) is kept only when it is
   * not older than the events already counted; one after an anomaly replaces the view.
   * One read per partition at a time.
   */
  private async refresh(p: number, force = false): Promise<void> {
    if (this.reading[p]) return;
    this.reading[p] = true;
    try {
      const { seq, onlineCount } = await this.parts[p].peek();
      if (force || seq >= this.views[p].seq) this.views[p] = { seq, count: onlineCount };
    } catch (err) {
      this.log?.warn({ err, partition: p }, 'presence partition count unreadable; kept the last one');
    } finally {
      this.reading[p] = false;
    }
  }

  async start(): Promise<void> {
    await Promise.all(this.parts.map((part) => part.start()));
    await Promise.all(this.parts.map((_, p) => this.refresh(p, true)));
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((part) => part.close()));
  }

  onEvent(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  onRoomEvent(handler: (event: RoomEvent) => void): void {
    for (const part of this.parts) part.onRoomEvent(handler);
  }

  async refreshLease(): Promise<LeaseState> {
    const states = await Promise.all(this.parts.map((part) => part.refreshLease()));
    await Promise.all(this.parts.map((_, p) => this.refresh(p)));
    return { lost: states.some((s) => s.lost), memberships: states.reduce((n, s) => n + s.memberships, 0) };
  }

  /**
   * When this node's view says the whole online set fits the snapshot, the other partitions
   * are read in the same round trip (one peek each, in parallel) and the welcome is complete
   * and exact, as on one Redis; otherwise it is the user's partition's page, its count exact,
   * the others' as this node saw them, and a cursor through the rest.
   */
  async connect(userId: string, username: string, snapshotLimit: number, maxPerUser?: number): Promise<ConnectResult> {
    const p = partitionOf(userId, this.parts.length);
    const limit = Math.max(0, Math.floor(snapshotLimit));
    const others = this.views.reduce((n, v, q) => n + (q === p ? 0 : Math.max(0, v.count)), 0);
    const small = limit > 0 && others + 1 <= limit;
    const [result, peeks] = await Promise.all([
      this.parts[p].connect(userId, username, snapshotLimit, maxPerUser),
      small ? Promise.all(this.parts.map((_, q) => (q === p ? undefined : this.peekShared(q, limit)))) : undefined,
    ]);
    const own = result.snapshot;
    const seqs = this.views.map((v, q) => (q === p ? own.seq : peeks?.[q]?.seq ?? v.seq));
    const counts = this.views.map((v, q) => (q === p ? own.onlineCount : peeks?.[q]?.onlineCount ?? Math.max(0, v.count)));
    const onlineCount = counts.reduce((n, c) => n + c, 0);
    if (result.refused) return { ...result, snapshot: { seq: own.seq, seqs, online: [], onlineCount } };
    if (peeks && onlineCount <= limit && own.cursor === undefined) {
      const online = [...own.online, ...peeks.flatMap((peek) => peek?.online ?? [])];
      return { ...result, snapshot: { seq: own.seq, seqs, online, onlineCount } };
    }
    const cursor = own.cursor !== undefined ? { start: p, step: 0, inner: own.cursor } : { start: p, step: 1 };
    return { ...result, snapshot: { seq: own.seq, seqs, online: own.online, onlineCount, cursor: formatWalk(cursor) } };
  }

  /**
   * A read of partition q for a welcome, shared by the connects that need one within
   * PEEK_SHARE_MS (a storm would otherwise read every other partition per connect). A shared
   * read is consistent with its own seq, and the feed replays what came after that seq.
   */
  private peekShared(q: number, limit: number): Promise<Peek> {
    const now = Date.now();
    const held = this.peeks[q];
    if (held && held.limit >= limit && now - held.at < PEEK_SHARE_MS) return held.read;
    const read = this.parts[q].peek(limit);
    this.peeks[q] = { at: now, limit, read };
    read.catch(() => {
      if (this.peeks[q]?.read === read) this.peeks[q] = undefined;
    });
    return read;
  }

  async disconnect(userId: string, username: string, connectionId: string, actions: Iterable<string>): Promise<{ wentOffline: boolean }> {
    const u = partitionOf(userId, this.parts.length);
    const byPart = groupBy([...actions], (action) => partitionOf(action, this.parts.length));
    const mine = byPart.get(u) ?? [];
    byPart.delete(u);
    // Elsewhere the node holds no count of the user, so disconnect there only leaves rooms.
    const left = await Promise.allSettled([...byPart].map(([a, list]) => this.parts[a].disconnect(userId, username, connectionId, list)));
    const result = await this.parts[u].disconnect(userId, username, connectionId, mine);
    const failed = left.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return result;
  }

  join(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    return this.actionPart(action).join(action, connectionId, userId, username);
  }

  leave(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    return this.actionPart(action).leave(action, connectionId, userId, username);
  }

  members(action: string, cursor: string | undefined, limit: number): Promise<RoomPage> {
    return this.actionPart(action).members(action, cursor, limit);
  }

  watchRoom(action: string): Promise<void> {
    return this.actionPart(action).watchRoom(action);
  }

  unwatchRoom(action: string): Promise<void> {
    return this.actionPart(action).unwatchRoom(action);
  }

  /** One read per partition holding some of `userIds`, in parallel. */
  async isOnline(userIds: string[]): Promise<boolean[]> {
    const out = new Array<boolean>(userIds.length).fill(false);
    const byPart = groupBy(userIds.map((_, i) => i), (i) => partitionOf(userIds[i], this.parts.length));
    await Promise.all([...byPart].map(async ([p, idx]) => {
      const flags = await this.parts[p].isOnline(idx.map((i) => userIds[i]));
      idx.forEach((i, k) => { out[i] = flags[k]; });
    }));
    return out;
  }

  async online(cursor: string | undefined, limit: number): Promise<{ users: string[]; cursor?: string }> {
    const page = await this.walk(cursor, limit, async (p, inner, want) => {
      const r = await this.parts[p].online(inner, want);
      return { items: r.users, cursor: r.cursor };
    });
    return page.cursor !== undefined ? { users: page.items, cursor: page.cursor } : { users: page.items };
  }

  async onlineCount(): Promise<number> {
    return (await Promise.all(this.parts.map((part) => part.onlineCount()))).reduce((n, c) => n + c, 0);
  }

  /** An action is indexed only in its own partition, so the walk lists each once. */
  async channels(prefix: string, cursor: string | undefined, limit: number): Promise<{ channels: ChannelInfo[]; cursor?: string }> {
    const page = await this.walk(cursor, limit, async (p, inner, want) => {
      const r = await this.parts[p].channels(prefix, inner, want);
      return { items: r.channels, cursor: r.cursor };
    });
    return page.cursor !== undefined ? { channels: page.items, cursor: page.cursor } : { channels: page.items };
  }

  /** A page of at most `limit` items from the walk over the partitions that `cursor` continues. */
  private walk<T>(cursor: string | undefined, limit: number, read: Parameters<typeof walkPages<T>>[3]): Promise<{ items: T[]; cursor?: string }> {
    return walkPages(parseWalk(cursor, this.parts.length), this.parts.length, Math.max(1, Math.floor(limit)), read);
  }

  /** Each node once: users and connections summed, the earliest of its leases. */
  async nodes(): Promise<NodeInfo[]> {
    const merged = new Map<string, NodeInfo>();
    for (const list of await Promise.all(this.parts.map((part) => part.nodes()))) {
      for (const n of list) {
        const m = merged.get(n.id);
        if (!m) merged.set(n.id, { ...n });
        else merged.set(n.id, { id: n.id, leaseExpiresAt: Math.min(m.leaseExpiresAt, n.leaseExpiresAt), users: m.users + n.users, connections: m.connections + n.connections });
      }
    }
    return [...merged.values()];
  }

  /** Every partition gets the share of `account` it owns (users by user, memberships by action). */
  async sync(account: NodeAccount): Promise<void> {
    const k = this.parts.length;
    const shares: NodeAccount[] = this.parts.map(() => ({ users: new Map(), memberships: new Map() }));
    for (const [uid, u] of account.users) shares[partitionOf(uid, k)].users.set(uid, u);
    for (const [conn, m] of account.memberships) {
      const username = m.username ?? account.users.get(m.userId)?.username;
      for (const action of m.actions) {
        const share = shares[partitionOf(action, k)].memberships;
        const entry = share.get(conn) ?? { userId: m.userId, username, actions: new Set<string>() };
        entry.actions.add(action);
        share.set(conn, entry);
      }
    }
    await Promise.all(this.parts.map((part, p) => part.sync(shares[p])));
  }

  async reap(): Promise<string[]> {
    const settled = await Promise.all(this.parts.map((part) => part.reap()));
    return [...new Set(settled.flat())];
  }

  async audit(): Promise<DriftRepair[]> {
    return (await Promise.all(this.parts.map((part) => part.audit()))).flat();
  }
}
