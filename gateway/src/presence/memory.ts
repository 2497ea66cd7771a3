/**
 * In-process twin of the Redis presence store, for single-node runs and unit tests. Each
 * method does what the matching Lua script does, in one synchronous step, on a shared
 * MemoryPresenceBackend (one per "Redis"); several stores on one backend play several nodes.
 * Tests move lease expiry with the backend's injected clock instead of waiting.
 */
import type { PresenceChange } from '../../../shared/protocol.js';
import { MemoryPresenceBackend, type NodeState, type RoomChanges } from './memory-backend.js';
import {
  CursorError, type ChannelInfo, type ConnectResult, type DriftRepair, type NodeInfo, type LeaseState, type NodeAccount, type PresenceEvent, type PresenceStore,
  type RoomEvent, type RoomPage, type Snapshot,
} from './types.js';

export { MemoryPresenceBackend };

/** Same rule as the Redis store: the node id is part of key names there. */
function validateNodeId(nodeId: string): void {
  if (!nodeId || /[:\n]/.test(nodeId)) throw new TypeError(`presence nodeId must be non-empty without ':' or newline: ${JSON.stringify(nodeId)}`);
}

export function createMemoryPresenceBackend(opts: { now?: () => number; eventsMaxLen?: number } = {}): MemoryPresenceBackend {
  return new MemoryPresenceBackend(opts);
}

export interface MemoryPresenceOptions {
  leaseMs: number;
  reapBatch?: number;
}

function parseOffset(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '0') return 0;
  if (!/^\d{1,9}$/.test(cursor)) throw new CursorError(`invalid presence cursor: ${cursor.slice(0, 40)}`);
  return Number(cursor);
}

export class MemoryPresenceStore implements PresenceStore {
  private handler: (event: PresenceEvent) => void = () => {};
  private roomHandler: (event: RoomEvent) => void = () => {};
  private readonly watched = new Set<string>();
  private unlisten?: () => void;

  constructor(
    private readonly backend: MemoryPresenceBackend,
    private readonly nodeId: string,
    private readonly opts: MemoryPresenceOptions,
  ) {
    validateNodeId(nodeId);
    if (!(opts.leaseMs > 0)) throw new TypeError('presence leaseMs must be > 0');
  }

  /** Starts receiving events (those published before are not delivered). Call before `sync()`. */
  async start(): Promise<void> {
    this.unlisten ??= this.backend.listen(
      (event) => this.handler(event),
      (event) => {
        if (this.watched.has(event.action)) this.roomHandler(event);
      },
    );
  }

  async close(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    this.watched.clear();
  }

  onEvent(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  onRoomEvent(handler: (event: RoomEvent) => void): void {
    this.roomHandler = handler;
  }

  async watchRoom(action: string): Promise<void> {
    this.watched.add(action);
  }

  async unwatchRoom(action: string): Promise<void> {
    this.watched.delete(action);
  }

  private node(): NodeState {
    return this.backend.node(this.nodeId);
  }

  async refreshLease(): Promise<LeaseState> {
    if (!this.backend.leases.has(this.nodeId)) return { lost: true, memberships: 0 };
    this.backend.leases.set(this.nodeId, this.backend.now() + this.opts.leaseMs);
    return { lost: false, memberships: this.node().members.size };
  }

  async connect(userId: string, username: string, snapshotLimit: number, maxPerUser = 0): Promise<ConnectResult> {
    const b = this.backend;
    b.begin(this.nodeId, 'connect');
    const max = Math.max(0, Math.floor(maxPerUser));
    if (max > 0 && (b.counts.get(userId) ?? 0) >= max) {
      return { wentOnline: false, refused: true, snapshot: { seq: b.seq, online: [], onlineCount: b.online.size } };
    }
    const node = this.node();
    node.counts.set(userId, (node.counts.get(userId) ?? 0) + 1);
    node.usernames.set(userId, username);
    const changes: PresenceChange[] = [];
    b.addCount(changes, userId, username, 1);
    b.publish(changes);
    const limit = Math.max(0, Math.floor(snapshotLimit));
    const all = b.onlineUsers();
    const snapshot: Snapshot = { seq: b.seq, online: all.slice(0, limit), onlineCount: all.length };
    if (all.length > limit) snapshot.cursor = String(limit);
    return { wentOnline: changes.length > 0, refused: false, snapshot };
  }

  async disconnect(userId: string, username: string, connectionId: string, actions: Iterable<string>) {
    const b = this.backend;
    b.begin(this.nodeId, 'disconnect');
    const node = this.node();
    const rooms: RoomChanges = new Map();
    for (const action of actions) b.member(rooms, node, 'leave', action, userId, connectionId, username);
    b.publishRooms(rooms);
    const mine = node.counts.get(userId) ?? 0;
    if (mine <= 0) return { wentOffline: false };
    if (mine === 1) {
      node.counts.delete(userId);
      node.usernames.delete(userId);
    } else node.counts.set(userId, mine - 1);
    const changes: PresenceChange[] = [];
    b.addCount(changes, userId, username, -1);
    b.publish(changes);
    return { wentOffline: changes.length > 0 };
  }

  async join(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    this.backend.begin(this.nodeId, 'join');
    const rooms: RoomChanges = new Map();
    this.backend.member(rooms, this.node(), 'join', action, userId, connectionId, username);
    this.backend.publishRooms(rooms);
  }

  async leave(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    this.backend.begin(this.nodeId, 'leave');
    const rooms: RoomChanges = new Map();
    this.backend.member(rooms, this.node(), 'leave', action, userId, connectionId, username);
    this.backend.publishRooms(rooms);
  }

  /** Offset paging over the room's members, as the online set below. */
  async members(action: string, cursor: string | undefined, limit: number): Promise<RoomPage> {
    const from = parseOffset(cursor);
    const count = Math.max(1, Math.floor(limit));
    const all = [...(this.backend.rooms.get(action)?.keys() ?? [])];
    const users = all.slice(from, from + count).map((id) => ({ id, username: this.backend.roomNames.get(action)?.get(id) ?? id }));
    const page: RoomPage = { users, count: all.length, seq: this.backend.roomSeq };
    if (from + count < all.length) page.cursor = String(from + count);
    return page;
  }

  /** The online count, the seq it is consistent with and, when it is at most `limit`, the ids (peek.lua). */
  async peek(limit = 0): Promise<{ seq: number; onlineCount: number; online: string[] }> {
    const size = this.backend.online.size;
    return { seq: this.backend.seq, onlineCount: size, online: size > 0 && size <= limit ? this.backend.onlineUsers() : [] };
  }

  async isOnline(userIds: string[]): Promise<boolean[]> {
    return userIds.map((id) => this.backend.online.has(id));
  }

  /** Offset paging over the online set; ids removed meanwhile shift later pages (as SSCAN, no strict guarantee). */
  async online(cursor: string | undefined, limit: number): Promise<{ users: string[]; cursor?: string }> {
    const from = parseOffset(cursor);
    const count = Math.max(1, Math.floor(limit));
    const all = this.backend.onlineUsers();
    const users = all.slice(from, from + count);
    return from + count < all.length ? { users, cursor: String(from + count) } : { users };
  }

  async onlineCount(): Promise<number> {
    return this.backend.online.size;
  }

  /** Offset paging over the actions index, in name order (Redis: ZSCAN, no order). */
  async channels(prefix: string, cursor: string | undefined, limit: number): Promise<{ channels: ChannelInfo[]; cursor?: string }> {
    const from = parseOffset(cursor);
    const count = Math.max(1, Math.floor(limit));
    const all = [...this.backend.actions].filter(([a]) => a.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1));
    const channels = all.slice(from, from + count).map(([action, members]) => ({ action, members }));
    return from + count < all.length ? { channels, cursor: String(from + count) } : { channels };
  }

  async nodes(): Promise<NodeInfo[]> {
    return [...this.backend.leases].map(([id, until]) => {
      const counts = this.backend.nodes.get(id)?.counts ?? new Map<string, number>();
      let connections = 0;
      for (const n of counts.values()) connections += n;
      return { id, leaseExpiresAt: until, users: counts.size, connections };
    });
  }

  async sync(account: NodeAccount): Promise<void> {
    const b = this.backend;
    b.begin(this.nodeId, 'sync');
    const old = this.node();
    for (const [uid, { count, username }] of account.users) if (count > 0 && !b.names.has(uid)) b.names.set(uid, username);
    const rooms: RoomChanges = new Map();
    const wanted = new Map<string, { action: string; uid: string; conn: string; name: string }>();
    for (const [conn, { userId, username, actions }] of account.memberships) {
      const name = username ?? account.users.get(userId)?.username ?? userId;
      for (const action of actions) wanted.set(`${action}\n${userId}\n${conn}`, { action, uid: userId, conn, name });
    }
    for (const entry of [...old.members]) {
      if (wanted.delete(entry)) continue;
      const nl = entry.indexOf('\n');
      b.member(rooms, old, 'leave', entry.slice(0, nl), entry.slice(nl + 1, entry.lastIndexOf('\n')), entry.slice(entry.lastIndexOf('\n') + 1));
    }
    for (const { action, uid, conn, name } of wanted.values()) b.member(rooms, old, 'join', action, uid, conn, name);
    const delta = new Map<string, { d: number; username: string }>();
    for (const [uid, n] of old.counts) delta.set(uid, { d: -n, username: old.usernames.get(uid) ?? '' });
    old.counts.clear();
    old.usernames.clear();
    for (const [uid, { count, username }] of account.users) {
      if (count <= 0) continue;
      old.counts.set(uid, count);
      old.usernames.set(uid, username);
      delta.set(uid, { d: (delta.get(uid)?.d ?? 0) + count, username });
    }
    b.publishRooms(rooms);
    const changes: PresenceChange[] = [];
    for (const [uid, { d, username }] of delta) if (d !== 0) b.addCount(changes, uid, username, d);
    b.leases.set(this.nodeId, b.now() + this.opts.leaseMs);
    b.publish(changes);
  }

  async reap(): Promise<string[]> {
    const b = this.backend;
    b.begin(this.nodeId, 'node_lost');
    const now = b.now();
    const max = Math.max(1, this.opts.reapBatch ?? 10);
    const expired = [...b.leases].filter(([id, until]) => until < now && id !== this.nodeId).sort((x, y) => x[1] - y[1]);
    const settled = expired.slice(0, max).map(([id]) => id);
    const changes: PresenceChange[] = [];
    const rooms: RoomChanges = new Map();
    for (const id of settled) b.settle(changes, rooms, id);
    b.publishRooms(rooms);
    b.publish(changes);
    return settled;
  }

  async audit(): Promise<DriftRepair[]> {
    this.backend.begin(this.nodeId, 'repair');
    const changes: PresenceChange[] = [];
    const rooms: RoomChanges = new Map();
    const repaired = this.backend.audit(changes, rooms);
    this.backend.publish(changes);
    this.backend.publishRooms(rooms);
    return repaired;
  }
}
