/**
 * What the Redis presence keys hold, in process memory, and the steps the Lua scripts take on
 * them (common.lua's helpers): one MemoryPresenceBackend plays one Redis for any number of
 * MemoryPresenceStores (nodes). Its `now()` plays Redis TIME.
 */
import type { PresenceChange, RoomChange } from '../../../shared/protocol.js';
import type { ClusterEvent, DriftRepair, PresenceEvent, RoomEvent } from './types.js';

export interface NodeState {
  counts: Map<string, number>;
  usernames: Map<string, string>;
  /** "<action>\n<userId>\n<connectionId>", as the Redis node index. */
  members: Set<string>;
}

/** Room transitions of one step, grouped by action (publish_rooms in common.lua). */
export type RoomChanges = Map<string, RoomChange[]>;

const entryOf = (action: string, uid: string, conn: string) => `${action}\n${uid}\n${conn}`;
export function parseEntry(entry: string): { action: string; uid: string } {
  return { action: entry.slice(0, entry.indexOf('\n')), uid: entry.slice(entry.indexOf('\n') + 1, entry.lastIndexOf('\n')) };
}

export class MemoryPresenceBackend {
  readonly now: () => number;
  /** userId -> open connections cluster-wide (online_users: `online`, kept equal to its keys). */
  readonly counts = new Map<string, number>();
  /** online_users, in the order users came online. Separate from `counts` so tests can corrupt either. */
  readonly online = new Set<string>();
  /** presence:names: userId -> username while online. */
  readonly names = new Map<string, string>();
  /** nodeId -> lease expiry */
  readonly leases = new Map<string, number>();
  readonly nodes = new Map<string, NodeState>();
  /** members:<action>: userId -> the user's connections in the action. */
  readonly rooms = new Map<string, Map<string, number>>();
  /** member-names:<action>: userId -> username, for the action's members. */
  readonly roomNames = new Map<string, Map<string, string>>();
  /** actions: action -> member count, while it has members (what the audit walks, as in Redis). */
  readonly actions = new Map<string, number>();
  seq = 0;
  /** presence:room-seq: one per published room event. */
  roomSeq = 0;
  /** events: the stream, oldest first, at most `eventsMaxLen` entries (0: none kept). */
  readonly events: ClusterEvent[] = [];
  /** The id of the newest entry trimmed away (`0-0` while none was). */
  eventsDeleted = '0-0';
  readonly eventsMaxLen: number;
  private lastEventMs = 0;
  private eventSeq = 0;
  /** The step being run: why, and whose connection (common.lua's REASON and EVENT_NODE). */
  private reason: ClusterEvent['reason'] = 'connect';
  eventNode = '';
  private readonly nodeOf = new WeakMap<object, string>();
  private readonly listeners = new Set<(event: PresenceEvent) => void>();
  private readonly roomListeners = new Set<(event: RoomEvent) => void>();

  constructor(opts: { now?: () => number; eventsMaxLen?: number } = {}) {
    this.now = opts.now ?? Date.now;
    this.eventsMaxLen = Math.max(0, opts.eventsMaxLen ?? 0);
  }

  /** Lose everything, as a Redis restarted without persistence (seq starts over too). */
  reset(): void {
    for (const m of [this.counts, this.names, this.leases, this.nodes, this.rooms, this.roomNames, this.actions]) m.clear();
    this.online.clear();
    this.seq = 0;
    this.roomSeq = 0;
    this.events.length = 0;
    this.eventsDeleted = '0-0';
  }

  /** A step of `node` begins (the top of a script). */
  begin(node: string, reason: ClusterEvent['reason']): void {
    this.eventNode = node;
    this.reason = reason;
  }

  /** record() in common.lua: one stream entry per published transition, trimmed to the length. */
  private record(change: PresenceChange | RoomChange, seq: number, action?: string): void {
    if (this.eventsMaxLen <= 0) return;
    const ms = Math.max(this.now(), this.lastEventMs);
    this.eventSeq = ms === this.lastEventMs ? this.eventSeq + 1 : 0;
    this.lastEventMs = ms;
    const event: ClusterEvent = {
      id: `${ms}-${this.eventSeq}`, type: change.status, userId: change.userId, username: change.username,
      node: this.nodeOf.get(change) ?? this.eventNode, reason: this.reason, ts: change.ts, seq,
    };
    if (action !== undefined) event.action = action;
    this.events.push(event);
    while (this.events.length > this.eventsMaxLen) this.eventsDeleted = this.events.shift()!.id;
  }

  private noteChange<T extends object>(change: T): T {
    this.nodeOf.set(change, this.eventNode);
    return change;
  }

  onlineUsers(): string[] {
    return [...this.online];
  }

  listen(fn: (event: PresenceEvent) => void, rooms: (event: RoomEvent) => void): () => void {
    this.listeners.add(fn);
    this.roomListeners.add(rooms);
    return () => {
      this.listeners.delete(fn);
      this.roomListeners.delete(rooms);
    };
  }

  node(id: string): NodeState {
    let n = this.nodes.get(id);
    if (!n) this.nodes.set(id, (n = { counts: new Map(), usernames: new Map(), members: new Set() }));
    return n;
  }

  /** add_count: clamped counter, online set, names, and the transition record. */
  addCount(changes: PresenceChange[], uid: string, username: string, delta: number): void {
    const old = this.counts.get(uid) ?? 0;
    const next = Math.max(0, old + delta);
    if (old === 0 && next > 0) this.names.set(uid, username);
    this.setStored(uid, next);
    if (old === 0 && next > 0) changes.push(this.noteChange({ userId: uid, username, status: 'online', ts: this.now() }));
    if (old > 0 && next === 0) changes.push(this.noteChange({ userId: uid, username, status: 'offline', ts: this.now() }));
  }

  /** Counter and online set for `uid` set to `n` (absent and offline at 0). */
  setStored(uid: string, n: number): void {
    if (n > 0) {
      this.counts.set(uid, n);
      this.online.add(uid);
    } else {
      this.counts.delete(uid);
      this.online.delete(uid);
      this.names.delete(uid);
    }
  }

  /** set_room: the user's count in the room, its username there, and the joined/left transition. */
  setRoom(rooms: RoomChanges, action: string, uid: string, n: number, username?: string): void {
    let room = this.rooms.get(action);
    const old = room?.get(uid) ?? 0;
    if (n > 0) {
      if (!room) this.rooms.set(action, (room = new Map()));
      room.set(uid, n);
    } else if (room) {
      room.delete(uid);
      if (room.size === 0) this.rooms.delete(action);
    }
    if (old > 0 === n > 0) return;
    this.indexAction(action);
    const list = rooms.get(action) ?? [];
    list.push(this.noteChange({ userId: uid, username: this.roomName(action, uid, n > 0, username), status: n > 0 ? 'joined' as const : 'left' as const, ts: this.now() }));
    rooms.set(action, list);
  }

  /** The name a joining member is stored with, or a leaving member was (and forget it). */
  private roomName(action: string, uid: string, joined: boolean, username: string | undefined): string {
    let names = this.roomNames.get(action);
    if (joined) {
      const name = username ?? this.names.get(uid) ?? uid;
      if (!names) this.roomNames.set(action, (names = new Map()));
      names.set(uid, name);
      return name;
    }
    const name = names?.get(uid) ?? username ?? uid;
    names?.delete(uid);
    if (names?.size === 0) this.roomNames.delete(action);
    return name;
  }

  /** The actions index follows the room's member count (ZADD / ZREM). */
  indexAction(action: string): void {
    const size = this.rooms.get(action)?.size ?? 0;
    if (size > 0) this.actions.set(action, size);
    else this.actions.delete(action);
  }

  addRoom(rooms: RoomChanges, action: string, uid: string, delta: number, username?: string): void {
    this.setRoom(rooms, action, uid, Math.max(0, (this.rooms.get(action)?.get(uid) ?? 0) + delta), username);
  }

  /** One membership entry in a node's index; false when it was already (not) there. */
  member(rooms: RoomChanges, node: NodeState, op: 'join' | 'leave', action: string, uid: string, conn: string, username?: string): boolean {
    const entry = entryOf(action, uid, conn);
    if (op === 'join' ? node.members.has(entry) : !node.members.has(entry)) return false;
    if (op === 'join') node.members.add(entry);
    else node.members.delete(entry);
    this.addRoom(rooms, action, uid, op === 'join' ? 1 : -1, username);
    return true;
  }

  dropMemberships(rooms: RoomChanges, node: NodeState): void {
    for (const entry of node.members) {
      const { action, uid } = parseEntry(entry);
      this.addRoom(rooms, action, uid, -1);
    }
    node.members.clear();
  }

  /** Settles one node's account (reap.lua's loop body). */
  settle(changes: PresenceChange[], rooms: RoomChanges, id: string): void {
    this.eventNode = id;
    const node = this.node(id);
    this.dropMemberships(rooms, node);
    for (const [uid, n] of node.counts) this.addCount(changes, uid, node.usernames.get(uid) ?? '', -n);
    this.nodes.delete(id);
    this.leases.delete(id);
  }

  /** One event for all changes, delivered to every listener in a later microtask, in seq order. */
  publish(changes: PresenceChange[]): void {
    if (changes.length === 0) return;
    const event: PresenceEvent = { seq: ++this.seq, changes };
    for (const c of changes) this.record(c, event.seq);
    for (const fn of [...this.listeners]) queueMicrotask(() => fn(event));
  }

  /** One room event per action that changed, each with its own seq. */
  publishRooms(rooms: RoomChanges): void {
    for (const [action, changes] of rooms) {
      const event: RoomEvent = { action, seq: ++this.roomSeq, changes };
      for (const c of changes) this.record(c, event.seq, action);
      for (const fn of [...this.roomListeners]) queueMicrotask(() => fn(event));
    }
  }

  /** audit.lua: registered nodes' accounts are the truth; counters, the online set and rooms follow. */
  audit(changes: PresenceChange[], rooms: RoomChanges): DriftRepair[] {
    const expected = new Map<string, number>();
    const names = new Map<string, string>();
    const wantRooms = new Map<string, Map<string, number>>();
    for (const id of this.leases.keys()) {
      const node = this.nodes.get(id);
      for (const [uid, n] of node?.counts ?? []) {
        if (n <= 0) continue;
        expected.set(uid, (expected.get(uid) ?? 0) + n);
        if (!names.has(uid) && node?.usernames.has(uid)) names.set(uid, node.usernames.get(uid)!);
      }
      for (const entry of node?.members ?? []) {
        const { action, uid } = parseEntry(entry);
        const want = wantRooms.get(action) ?? new Map<string, number>();
        want.set(uid, (want.get(uid) ?? 0) + 1);
        wantRooms.set(action, want);
      }
    }
    const repaired: DriftRepair[] = [];
    for (const uid of new Set([...expected.keys(), ...this.counts.keys(), ...this.online])) {
      const want = expected.get(uid) ?? 0;
      const found = this.counts.get(uid);
      const was = this.online.has(uid);
      if ((want > 0 ? found === want : found === undefined) && was === want > 0) continue;
      if (want > 0) this.names.set(uid, names.get(uid) ?? uid);
      this.setStored(uid, want);
      if (was !== want > 0) changes.push(this.noteChange({ userId: uid, username: names.get(uid) ?? uid, status: want > 0 ? 'online' as const : 'offline' as const, ts: this.now() }));
      repaired.push({ userId: uid, expected: want, found: found ?? 0 });
    }
    for (const action of new Set([...wantRooms.keys(), ...this.actions.keys()])) {
      const want = wantRooms.get(action) ?? new Map<string, number>();
      const have = new Map(this.rooms.get(action) ?? []);
      for (const uid of new Set([...want.keys(), ...have.keys()])) {
        const w = want.get(uid) ?? 0;
        const h = have.get(uid) ?? 0;
        if (w === h) continue;
        this.setRoom(rooms, action, uid, w);
        repaired.push({ userId: uid, expected: w, found: h, action });
      }
      this.indexAction(action);
    }
    return repaired;
  }
}
