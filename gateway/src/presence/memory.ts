/**
 * In-process twin of the Redis presence store for unit tests. One backend plays one
 * Redis; several MemoryPresenceStores on it play several nodes. The backend's `now()`
 * plays Redis TIME, so tests move lease expiry with an injected clock instead of waiting.
 * Each method does what the matching Lua script does, in one synchronous step.
 */
import type { PresenceChange } from '../../../shared/protocol.js';
import { CursorError, type ConnectResult, type DriftRepair, type NodeAccount, type PresenceEvent, type PresenceStore, type Snapshot } from './types.js';

interface NodeState {
  counts: Map<string, number>;
  usernames: Map<string, string>;
  /** "<action>\n<connectionId>", as the Redis node index. */
  members: Set<string>;
}

/** Same rule as the Redis store: the node id is part of key names there. */
function validateNodeId(nodeId: string): void {
  if (!nodeId || /[:\n]/.test(nodeId)) throw new TypeError(`presence nodeId must be non-empty without ':' or newline: ${JSON.stringify(nodeId)}`);
}

export interface MemoryBackendOptions {
  /** The shared clock, ms (default Date.now). */
  now?: () => number;
}

export class MemoryPresenceBackend {
  readonly now: () => number;
  /** userId -> open connections cluster-wide (online_users: `online`, kept equal to its keys). */
  readonly counts = new Map<string, number>();
  /** online_users, in the order users came online. Separate from `counts` so tests can corrupt either. */
  readonly online = new Set<string>();
  /** nodeId -> lease expiry */
  readonly leases = new Map<string, number>();
  readonly nodes = new Map<string, NodeState>();
  readonly actions = new Map<string, Set<string>>();
  seq = 0;
  private readonly listeners = new Set<(event: PresenceEvent) => void>();

  constructor(opts: MemoryBackendOptions = {}) {
    this.now = opts.now ?? Date.now;
  }

  /** Lose everything, as a Redis restarted without persistence (seq starts over too). */
  reset(): void {
    this.counts.clear();
    this.online.clear();
    this.leases.clear();
    this.nodes.clear();
    this.actions.clear();
    this.seq = 0;
  }

  /** Users online, in the order they came online. */
  onlineUsers(): string[] {
    return [...this.online];
  }

  listen(fn: (event: PresenceEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  node(id: string): NodeState {
    let n = this.nodes.get(id);
    if (!n) this.nodes.set(id, (n = { counts: new Map(), usernames: new Map(), members: new Set() }));
    return n;
  }

  /** add_count in common.lua: clamped counter, online set and transition record. */
  addCount(changes: PresenceChange[], uid: string, username: string, delta: number): void {
    const old = this.counts.get(uid) ?? 0;
    const next = Math.max(0, old + delta);
    const ts = this.now();
    this.setStored(uid, next);
    if (old === 0 && next > 0) changes.push({ userId: uid, username, status: 'online', ts });
    if (old > 0 && next === 0) changes.push({ userId: uid, username, status: 'offline', ts });
  }

  /** Counter and online set for `uid` set to `n` (absent and offline at 0). */
  setStored(uid: string, n: number): void {
    if (n > 0) {
      this.counts.set(uid, n);
      this.online.add(uid);
    } else {
      this.counts.delete(uid);
      this.online.delete(uid);
    }
  }

  /** audit.lua: registered nodes' accounts are the truth; counters and the online set follow. */
  audit(changes: PresenceChange[]): DriftRepair[] {
    const expected = new Map<string, number>();
    const names = new Map<string, string>();
    for (const id of this.leases.keys()) {
      const node = this.nodes.get(id);
      for (const [uid, n] of node?.counts ?? []) {
        if (n <= 0) continue;
        expected.set(uid, (expected.get(uid) ?? 0) + n);
        if (!names.has(uid) && node?.usernames.has(uid)) names.set(uid, node.usernames.get(uid)!);
      }
    }
    const repaired: DriftRepair[] = [];
    const ts = this.now();
    for (const uid of new Set([...expected.keys(), ...this.counts.keys(), ...this.online])) {
      const want = expected.get(uid) ?? 0;
      const found = this.counts.get(uid);
      const was = this.online.has(uid);
      if ((want > 0 ? found === want : found === undefined) && was === want > 0) continue;
      this.setStored(uid, want);
      if (was !== want > 0) changes.push({ userId: uid, username: names.get(uid) ?? uid, status: want > 0 ? 'online' : 'offline', ts });
      repaired.push({ userId: uid, expected: want, found: found ?? 0 });
    }
    return repaired;
  }

  setMember(op: 'join' | 'leave', node: NodeState, action: string, conn: string): void {
    let set = this.actions.get(action);
    if (op === 'join') {
      if (!set) this.actions.set(action, (set = new Set()));
      set.add(conn);
      node.members.add(`${action}\n${conn}`);
      return;
    }
    set?.delete(conn);
    if (set?.size === 0) this.actions.delete(action);
    node.members.delete(`${action}\n${conn}`);
  }

  dropMemberships(node: NodeState): void {
    for (const entry of [...node.members]) {
      const i = entry.indexOf('\n');
      this.setMember('leave', node, entry.slice(0, i), entry.slice(i + 1));
    }
  }

  /** Settles one node's account (reap.lua's loop body). */
  settle(changes: PresenceChange[], id: string): void {
    const node = this.node(id);
    for (const [uid, n] of node.counts) this.addCount(changes, uid, node.usernames.get(uid) ?? '', -n);
    this.dropMemberships(node);
    this.nodes.delete(id);
    this.leases.delete(id);
  }

  /** One event for all changes, delivered to every listener in a later microtask, in seq order. */
  publish(changes: PresenceChange[]): void {
    if (changes.length === 0) return;
    const event: PresenceEvent = { seq: ++this.seq, changes };
    for (const fn of [...this.listeners]) queueMicrotask(() => fn(event));
  }
}

export function createMemoryPresenceBackend(opts: MemoryBackendOptions = {}): MemoryPresenceBackend {
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
    this.unlisten ??= this.backend.listen((event) => this.handler(event));
  }

  async close(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
  }

  onEvent(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  async refreshLease(): Promise<'ok' | 'lost'> {
    if (!this.backend.leases.has(this.nodeId)) return 'lost';
    this.backend.leases.set(this.nodeId, this.backend.now() + this.opts.leaseMs);
    return 'ok';
  }

  async connect(userId: string, username: string, snapshotLimit: number, maxPerUser = 0): Promise<ConnectResult> {
    const b = this.backend;
    const max = Math.max(0, Math.floor(maxPerUser));
    if (max > 0 && (b.counts.get(userId) ?? 0) >= max) {
      return { wentOnline: false, refused: true, snapshot: { seq: b.seq, online: [], onlineCount: b.online.size } };
    }
    const node = b.node(this.nodeId);
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
    const node = b.node(this.nodeId);
    for (const action of actions) b.setMember('leave', node, action, connectionId);
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

  async join(action: string, connectionId: string): Promise<void> {
    this.backend.setMember('join', this.backend.node(this.nodeId), action, connectionId);
  }

  async leave(action: string, connectionId: string): Promise<void> {
    this.backend.setMember('leave', this.backend.node(this.nodeId), action, connectionId);
  }

  async members(action: string): Promise<string[]> {
    return [...(this.backend.actions.get(action) ?? [])];
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

  async sync(account: NodeAccount): Promise<void> {
    const b = this.backend;
    const old = b.node(this.nodeId);
    const next: ReturnType<MemoryPresenceBackend['node']> = { counts: new Map(), usernames: new Map(), members: new Set() };
    const delta = new Map<string, { d: number; username: string }>();
    for (const [uid, n] of old.counts) delta.set(uid, { d: -n, username: old.usernames.get(uid) ?? '' });
    for (const [uid, { count, username }] of account.users) {
      if (count <= 0) continue;
      next.counts.set(uid, count);
      next.usernames.set(uid, username);
      delta.set(uid, { d: (delta.get(uid)?.d ?? 0) + count, username });
    }
    const changes: PresenceChange[] = [];
    for (const [uid, { d, username }] of delta) if (d !== 0) b.addCount(changes, uid, username, d);
    b.dropMemberships(old);
    b.nodes.set(this.nodeId, next);
    for (const [conn, actions] of account.memberships) for (const action of actions) b.setMember('join', next, action, conn);
    b.leases.set(this.nodeId, b.now() + this.opts.leaseMs);
    b.publish(changes);
  }

  async reap(): Promise<string[]> {
    const b = this.backend;
    const now = b.now();
    const max = Math.max(1, this.opts.reapBatch ?? 10);
    const expired = [...b.leases].filter(([id, until]) => until < now && id !== this.nodeId).sort((x, y) => x[1] - y[1]);
    const settled = expired.slice(0, max).map(([id]) => id);
    const changes: PresenceChange[] = [];
    for (const id of settled) b.settle(changes, id);
    b.publish(changes);
    return settled;
  }

  async audit(): Promise<DriftRepair[]> {
    const changes: PresenceChange[] = [];
    const repaired = this.backend.audit(changes);
    this.backend.publish(changes);
    return repaired;
  }
}
