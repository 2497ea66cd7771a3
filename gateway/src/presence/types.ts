import type { ClusterEvent } from '../../../shared/events.js';
import type { PresenceChange, RoomChange } from '../../../shared/protocol.js';

/** What one node holds right now: the source of truth for its share of the cluster's presence. */
export interface NodeAccount {
  /** userId -> open connections of that user on this node, with the username for events. */
  users: Map<string, { count: number; username: string }>;
  /** connectionId -> its user and the actions that connection has joined (the username names the user in room events; else `users`' name is used). */
  memberships: Map<string, { userId: string; username?: string; actions: Set<string> }>;
}

/** Room events of one action, as the store published them; `seq` counts room events (its own sequence, not the presence seq). */
export interface RoomEvent { action: string; seq: number; changes: RoomChange[] }

/** A page of an action's members: user ids with usernames, the member count, and the seq the page is consistent with. */
export interface RoomPage { users: Array<{ id: string; username: string }>; count: number; seq: number; cursor?: string }

/** `refreshLease` found: whether the node is still registered, and its membership index size. */
export interface LeaseState { lost: boolean; memberships: number }

export interface Snapshot {
  /** Presence sequence number the snapshot is consistent with: changes with a higher seq are newer. */
  seq: number;
  /**
   * Partitioned presence (./partitioned.ts): the seq of every partition, by partition (events
   * carry their partition); a change of partition p is newer when its seq is above seqs[p].
   */
  seqs?: number[];
  online: string[];
  onlineCount: number;
  /** Set when `online` is a first page: pass it to `online()` for the next one. */
  cursor?: string;
}

export type { ClusterEvent };

/** An action with members, and how many users it has. */
export interface ChannelInfo { action: string; members: number }

/** A registered node, from its lease and its account. */
export interface NodeInfo { id: string; leaseExpiresAt: number; users: number; connections: number }

/**
 * A batch of changes as published by the store; `seq` grows by one per published batch.
 * With partitioned presence each partition numbers its own batches, and `partition` says whose.
 */
export interface PresenceEvent { seq: number; changes: PresenceChange[]; partition?: number }

/** Result of `connect`. */
export interface ConnectResult {
  wentOnline: boolean;
  /**
   * True when the per-user limit refused the connection: nothing was changed and nothing
   * published. The snapshot of a refusal carries only `seq` and `onlineCount` (`online` is
   * empty, no cursor): the caller is expected to turn the client away, not welcome it.
   */
  refused: boolean;
  snapshot: Snapshot;
}

/** `online()` got a cursor this store did not hand out: the caller's mistake, not a store failure. */
export class CursorError extends Error {
  override name = 'CursorError';
}

/** One user whose stored presence the audit found wrong and repaired. */
export interface DriftRepair {
  userId: string;
  /** Connections of the user summed over the accounts of registered nodes (the truth). */
  expected: number;
  /** The stored cluster-wide counter before the repair (0 when absent). Equal to
   *  `expected` when only the user's `online_users` membership was wrong. */
  found: number;
  /** Set for room drift: the action whose member count of this user was wrong. */
  action?: string;
}

/**
 * Cluster-wide presence and action membership. Storage only: it publishes change events but
 * holds no sockets. One store, three concerns, each its own interface so a consumer names only
 * the part it uses (the implementations keep all three together: they share keys and scripts).
 *
 * Contract:
 * - `connect`/`disconnect` change the user's global counter, the `online_users` set,
 *   this node's account and the change event in one atomic step; a counter never
 *   goes below zero and a user is in the set exactly when their counter is > 0.
 * - Membership is counted per (action, user), like presence per user: `join`/`leave` (and
 *   `disconnect`, `sync`, `reap`, `audit`) move the user's count in the action's room and
 *   publish `joined` when it leaves 0, `left` when it returns to 0, in the same atomic step,
 *   on the room's own channel. A user with connections on two nodes leaves the room when the
 *   last one does; a dead node's memberships leave when it is reaped, exactly once. `join`
 *   and `leave` are idempotent per connection.
 * - Every node holds a lease. A node that dies without a goodbye stops refreshing it;
 *   `reap()` on any surviving node settles an expired node exactly once (counts
 *   subtracted, memberships removed, `offline` events published) however many nodes run it.
 * - `sync(account)` replaces this node's whole share with `account`: used at start
 *   (settling a previous incarnation with the same node id), after the lease was lost,
 *   and after the store came back empty.
 * - `audit()` measures drift instead of assuming there is none: the accounts of the
 *   registered nodes are the truth; counters and the online set are repaired to match.
 */
export interface PresenceStore extends PresenceAccount, RoomMembership, PresenceQueries {}

/** Lease and account: this node's share of presence, its lease, and the settling of dead nodes. */
export interface PresenceAccount {
  /**
   * Start receiving change events (subscribe); events published before it resolves are not
   * delivered. Called once, before the first `sync`.
   */
  start(): Promise<void>;
  /**
   * Register or extend this node's lease. `lost`: the node was reaped meanwhile, call `sync`.
   * `memberships`: the size of this node's membership index, for the node to compare with its
   * live connections (a difference means drift only the node can see: `sync` repairs it).
   */
  refreshLease(): Promise<LeaseState>;
  /**
   * One more connection of `userId` on this node; returns a snapshot of the online set taken
   * atomically with it. With `maxPerUser` > 0, a user whose cluster-wide counter is already
   * >= `maxPerUser` is refused in the same atomic step (`refused: true`, nothing changed).
   * The counter includes connections in a grace window and those of dead, not yet reaped nodes.
   */
  connect(userId: string, username: string, snapshotLimit: number, maxPerUser?: number): Promise<ConnectResult>;
  /** One connection fewer; also removes `connectionId` from `actions`. */
  disconnect(userId: string, username: string, connectionId: string, actions: Iterable<string>): Promise<{ wentOffline: boolean }>;
  sync(account: NodeAccount): Promise<void>;
  /** The registered nodes (expired, not yet reaped ones included), with their users and connections. */
  nodes(): Promise<NodeInfo[]>;
  /** Settle expired nodes; returns the ids of the nodes this call settled. */
  reap(): Promise<string[]>;
  /**
   * In one atomic step: for every user in the counters, the online set or a registered
   * node's account, make the counter equal the sum of the registered nodes' accounts
   * (absent at 0) and the online set equal {counter > 0}. Users whose online status
   * changed go out as ONE event (online/offline, username from a node account, else the
   * user id). Returns the users repaired, [] (and no event) when nothing drifted.
   * Nodes not registered (reaped, or whose store came back empty) count for nothing.
   */
  audit(): Promise<DriftRepair[]>;
  /** One handler; receives every change event published by any node, this one included. */
  onEvent(handler: (event: PresenceEvent) => void): void;
  close(): Promise<void>;
}

/** Room membership: who is in which action, cluster-wide, and the room events. */
export interface RoomMembership {
  join(action: string, connectionId: string, userId: string, username: string): Promise<void>;
  leave(action: string, connectionId: string, userId: string, username: string): Promise<void>;
  /** A page of `action`'s members, cluster-wide; `cursor` from a previous page (CursorError for any other). */
  members(action: string, cursor: string | undefined, limit: number): Promise<RoomPage>;
  /** Deliver `action`'s room events to `onRoomEvent` (for as long as this node has members there). Idempotent. */
  watchRoom(action: string): Promise<void>;
  unwatchRoom(action: string): Promise<void>;
  onRoomEvent(handler: (event: RoomEvent) => void): void;
  /** A page of the actions that have members, with their user counts, whose names start with `prefix`. */
  channels(prefix: string, cursor: string | undefined, limit: number): Promise<{ channels: ChannelInfo[]; cursor?: string }>;
}

/** Reads of the online set. */
export interface PresenceQueries {
  isOnline(userIds: string[]): Promise<boolean[]>;
  /** A page of the online set; `cursor` from a previous page or snapshot (CursorError for any other). */
  online(cursor: string | undefined, limit: number): Promise<{ users: string[]; cursor?: string }>;
  /** How many users are online cluster-wide, read now (partitioned: the sum of the partitions). */
  onlineCount(): Promise<number>;
}
