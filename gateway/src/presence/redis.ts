/**
 * PresenceStore on Redis: counters, the online set, node leases and action membership,
 * changed by Lua scripts (./lua) so each step and its change event are atomic.
 *
 * Key layout (P = `prefix`, '' by default so the set is literally `online_users`):
 *   P online_users                      SET   users online anywhere (read by other tools)
 *   P presence:counts                   HASH  userId -> open connections cluster-wide
 *   P presence:seq                      integer, +1 per published event
 *   P presence:nodes                    ZSET  nodeId -> lease expiry, ms of Redis TIME
 *   P presence:node:<id>                HASH  userId -> this node's connections
 *   P presence:node:<id>:usernames      HASH  userId -> username
 *   P presence:node:<id>:members        SET   "<action>\n<userId>\n<connectionId>"
 *   P presence:names                    HASH  userId -> username, while online
 *   P members:<action>                  HASH  userId -> the user's connections in the action
 *   P member-names:<action>             HASH  userId -> username, for the action's members
 *   P actions                           ZSET  action -> members (users), while it has any
 *   channel P presence                  JSON PresenceEvent per change batch
 *   channel P room:<action>             JSON RoomEvent (joined/left) per change batch
 *   P events                            STREAM one entry per transition (ClusterEvent), when eventsMaxLen > 0
 * Redis Cluster needs a hash-tagged prefix such as '{gw}' (scripts build keys from it).
 * Do not give the injected clients an ioredis `keyPrefix`: scripts build keys themselves.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { presenceChannels, PRESENCE_TOPIC, type PresenceChannels } from './redis-channels.js';
import { connectBatcher, connectKey } from './connect-batch.js';
import { TurnBatcher } from './turn-batch.js';
import { parsePresenceEvent, parseRoomEvent } from './events.js';
import {
  CursorError, type ChannelInfo, type ConnectResult, type DriftRepair, type NodeInfo, type LeaseState, type NodeAccount, type PresenceEvent, type PresenceStore,
  type RoomEvent, type RoomPage,
} from './types.js';

export interface RedisPresenceOptions {
  /** Commands and scripts. Owned by the caller: `close()` leaves it connected. */
  redis: Redis;
  /** Used only for SUBSCRIBE (may be shared with other subscribers). Owned by the caller. */
  subscriber: Redis;
  /**
   * Redis Cluster, partitioned presence: the scripts SPUBLISH and events are heard with
   * SSUBSCRIBE (`subscriber` is then a Cluster client with `shardedSubscribers`; ./redis-channels.ts).
   */
  sharded?: boolean;
  prefix?: string;
  /** Unique per running node; no ':' or newline (it is part of key names). */
  nodeId: string;
  /** How long a lease lasts without `refreshLease()`. */
  leaseMs: number;
  /** Most expired nodes one `reap()` settles (default 10). */
  reapBatch?: number;
  /** Length of the event stream `P events` (XADD MAXLEN ~); 0 (default): no stream. */
  eventsMaxLen?: number;
  logger?: Logger;
}

const SCRIPTS = ['lease', 'connect', 'disconnect', 'membership', 'sync', 'reap', 'audit', 'members', 'nodes', 'peek'] as const;
type ScriptName = (typeof SCRIPTS)[number];
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

function loadScript(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}
const COMMON = loadScript('common');
/** Each script, as run on one Redis (events PUBLISHed) or sharded (SPUBLISHed: common.lua's PUBCMD). */
const lua = (name: ScriptName, sharded: boolean) => `local PUBCMD = '${sharded ? 'SPUBLISH' : 'PUBLISH'}'\n${COMMON}\n${loadScript(name)}`;
const commandName = (name: ScriptName, sharded: boolean) => `presence_${name}${sharded ? '_sharded' : ''}`;

/** Registers the scripts on `redis` once (EVALSHA, falling back to EVAL after NOSCRIPT). */
function defineScripts(redis: Redis, sharded: boolean): void {
  for (const name of SCRIPTS) {
    if (!(commandName(name, sharded) in redis)) redis.defineCommand(commandName(name, sharded), { numberOfKeys: 4, lua: lua(name, sharded) });
  }
}

const WATCH_TIMEOUT_MS = 2000;
const ROOM = 'room:';

/** Largest SCAN cursor (2^64 - 1). */
const MAX_SCAN = 0xffffffffffffffffn;

/**
 * The page a SCAN-family reply gives, in the cursor format parseCursor reads: small keys come
 * back whole from one call, so a reply longer than `count` is paged by offset (`<scan>:<skip>`);
 * otherwise the next page starts at Redis's cursor (none when it is '0').
 */
function scanPage<T>(found: T[], at: { scan: string; skip: number; count: number; next: string }): { items: T[]; cursor?: string } {
  const rest = found.slice(at.skip);
  if (rest.length > at.count) return { items: rest.slice(0, at.count), cursor: `${at.scan}:${at.skip + at.count}` };
  return at.next === '0' ? { items: rest } : { items: rest, cursor: at.next };
}

/** Parses an `online()` or `members()` cursor: '0' (or none) starts; CursorError for anything this store did not hand out. */
function parseCursor(cursor: string | undefined): { scan: string; skip: number } {
  const m = /^(\d{1,20})(?::(\d{1,9}))?$/.exec(cursor ?? '0');
  if (!m || BigInt(m[1]) > MAX_SCAN) throw new CursorError(`invalid presence cursor: ${String(cursor).slice(0, 40)}`);
  return { scan: m[1], skip: m[2] ? Number(m[2]) : 0 };
}

function validateNodeId(nodeId: string): void {
  if (!nodeId || /[:\n]/.test(nodeId)) throw new TypeError(`presence nodeId must be non-empty without ':' or newline: ${JSON.stringify(nodeId)}`);
}

export class RedisPresenceStore implements PresenceStore {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly reapBatch: number;
  private readonly eventsMaxLen: number;
  private readonly logger?: Logger;
  private readonly channel: string;
  private readonly keys: string[];
  /** Writes batched per turn (./turn-batch.ts). */
  private readonly connects: ReturnType<typeof connectBatcher>;
  private readonly memberships: TurnBatcher<string[], number>;
  private readonly sharded: boolean;
  private readonly hearing: PresenceChannels;
  private handler: (event: PresenceEvent) => void = () => {};
  private roomHandler: (event: RoomEvent) => void = () => {};

  constructor(opts: RedisPresenceOptions) {
    validateNodeId(opts.nodeId);
    if (!(opts.leaseMs > 0)) throw new TypeError('presence leaseMs must be > 0');
    this.redis = opts.redis;
    this.prefix = opts.prefix ?? '';
    this.nodeId = opts.nodeId;
    this.leaseMs = Math.ceil(opts.leaseMs);
    this.reapBatch = Math.max(1, opts.reapBatch ?? 10);
    this.eventsMaxLen = Math.max(0, Math.floor(opts.eventsMaxLen ?? 0));
    this.logger = opts.logger?.child({ component: 'presence' });
    this.channel = `${this.prefix}${PRESENCE_TOPIC}`;
    const p = this.prefix;
    this.keys = [`${p}online_users`, `${p}presence:counts`, `${p}presence:seq`, `${p}presence:nodes`];
    this.sharded = opts.sharded ?? false;
    this.hearing = presenceChannels({
      subscriber: opts.subscriber, prefix: p, sharded: this.sharded, timeoutMs: WATCH_TIMEOUT_MS, logger: this.logger, onMessage: this.onMessage,
    });
    defineScripts(this.redis, this.sharded);
    this.connects = connectBatcher((limit, max, pairs) => this.run('connect', limit, max, ...pairs));
    this.memberships = new TurnBatcher(async (op, items) => (await this.run('membership', op, ...items.flat())) as number[]);
  }

  /**
   * Subscribes to the event channel; events published before it resolves are not delivered.
   * Call once, before `sync()`. Subscriptions are kept across reconnects (./redis-channels.ts).
   */
  async start(): Promise<void> {
    await this.hearing.start();
  }

  /** Stops listening (unsubscribes); the injected clients stay open. */
  async close(): Promise<void> {
    await this.hearing.close();
  }

  onEvent(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  onRoomEvent(handler: (event: RoomEvent) => void): void {
    this.roomHandler = handler;
  }

  /**
   * Resolves once subscribed (within WATCH_TIMEOUT_MS), so room events published after that
   * reach this node; at once while Redis is away (the watch is applied when it is back).
   */
  async watchRoom(action: string): Promise<void> {
    await this.hearing.watch(ROOM + action);
  }

  async unwatchRoom(action: string): Promise<void> {
    await this.hearing.unwatch(ROOM + action);
  }

  private readonly onMessage = (topic: string, message: string): void => {
    if (topic === PRESENCE_TOPIC) {
      const event = parsePresenceEvent(message);
      if (event) return this.handler(event);
    } else if (topic.startsWith(ROOM)) {
      const action = topic.slice(ROOM.length);
      const event = parseRoomEvent(action, message);
      if (event) return this.roomHandler(event);
    } else return;
    this.logger?.warn({ topic, bytes: message.length }, 'dropped malformed presence event');
  };

  private run(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    // Batched writes waiting for their turn go first: Redis applies writes in issue order.
    if (name !== 'connect') this.connects.flushNow();
    if (name !== 'membership') this.memberships.flushNow();
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[commandName(name, this.sharded)];
    return fn.call(this.redis, ...this.keys, this.prefix, this.channel, this.nodeId, this.eventsMaxLen, ...args);
  }

  async refreshLease(): Promise<LeaseState> {
    const [ok, memberships] = (await this.run('lease', this.leaseMs)) as [number, number];
    return { lost: ok !== 1, memberships };
  }

  /** Batched with the other connects of this turn (./connect-batch.ts): one script call for all. */
  connect(userId: string, username: string, snapshotLimit: number, maxPerUser = 0): Promise<ConnectResult> {
    return this.connects.add(connectKey(Math.max(0, Math.floor(snapshotLimit)), Math.max(0, Math.floor(maxPerUser))), { userId, username });
  }

  async disconnect(userId: string, username: string, connectionId: string, actions: Iterable<string>) {
    const went = await this.run('disconnect', userId, username, connectionId, ...actions);
    return { wentOffline: went === 1 };
  }

  async join(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    await this.memberships.add('join', [action, connectionId, userId, username]);
  }

  async leave(action: string, connectionId: string, userId: string, username: string): Promise<void> {
    await this.memberships.add('leave', [action, connectionId, userId, username]);
  }

  async members(action: string, cursor: string | undefined, limit: number): Promise<RoomPage> {
    const { scan, skip } = parseCursor(cursor);
    const reply = (await this.run('members', action, scan, skip, Math.max(1, Math.floor(limit)))) as [number, number, string, number, string[]];
    const [seq, count, next, nextSkip, flat] = reply;
    const users: RoomPage['users'] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) users.push({ id: flat[i], username: flat[i + 1] });
    const page: RoomPage = { users, count, seq };
    if (next !== '0' || nextSkip > 0) page.cursor = nextSkip > 0 ? `${next}:${nextSkip}` : next;
    return page;
  }

  /** One SMISMEMBER round trip (Redis >= 6.2); none for an empty list. */
  async isOnline(userIds: string[]): Promise<boolean[]> {
    if (userIds.length === 0) return [];
    const flags = await this.redis.smismember(this.keys[0], ...userIds);
    return flags.map((f) => f === 1);
  }

  /**
   * One SSCAN page, at most `limit` ids; `cursor` undefined when the scan is done.
   * SSCAN guarantees: every id online for the whole walk is returned, but an id may
   * appear on two pages, and an id added or removed meanwhile may or may not appear.
   * A page may be short or empty while a cursor is still returned.
   */
  async online(cursor: string | undefined, limit: number): Promise<{ users: string[]; cursor?: string }> {
    const { scan, skip } = parseCursor(cursor);
    const count = Math.max(1, Math.floor(limit));
    const [next, found] = await this.redis.sscan(this.keys[0], scan, 'COUNT', count);
    const page = scanPage(found, { scan, skip, count, next });
    return page.cursor ? { users: page.items, cursor: page.cursor } : { users: page.items };
  }

  async onlineCount(): Promise<number> {
    return this.redis.scard(this.keys[0]);
  }

  /** One ZSCAN page of the actions index (MATCH on the escaped prefix); same guarantees as `online()`. */
  async channels(prefix: string, cursor: string | undefined, limit: number): Promise<{ channels: ChannelInfo[]; cursor?: string }> {
    const { scan, skip } = parseCursor(cursor);
    const count = Math.max(1, Math.floor(limit));
    const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    const [next, flat] = await this.redis.zscan(`${this.prefix}actions`, scan, 'MATCH', match, 'COUNT', count);
    const found: ChannelInfo[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) found.push({ action: flat[i], members: Number(flat[i + 1]) });
    const page = scanPage(found, { scan, skip, count, next });
    return page.cursor ? { channels: page.items, cursor: page.cursor } : { channels: page.items };
  }

  async nodes(): Promise<NodeInfo[]> {
    const flat = (await this.run('nodes')) as (string | number)[];
    const out: NodeInfo[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      out.push({ id: String(flat[i]), leaseExpiresAt: Number(flat[i + 1]), users: Number(flat[i + 2]), connections: Number(flat[i + 3]) });
    }
    return out;
  }

  async sync(account: NodeAccount): Promise<void> {
    const users = [...account.users].filter(([, u]) => u.count > 0).map(([id, u]) => [id, u.count, u.username]);
    const members: [string, string, string, string][] = [];
    for (const [conn, { userId, username, actions }] of account.memberships) {
      const name = username ?? account.users.get(userId)?.username ?? userId;
      for (const action of actions) members.push([action, userId, conn, name]);
    }
    await this.run('sync', this.leaseMs, JSON.stringify(users), JSON.stringify(members));
  }

  /** The online count, the seq it is consistent with and, when it is at most `limit`, the ids, in one step (./partitioned.ts). */
  async peek(limit = 0): Promise<{ seq: number; onlineCount: number; online: string[] }> {
    const [seq, onlineCount, online] = (await this.run('peek', Math.max(0, Math.floor(limit)))) as [number, number, string[]];
    return { seq, onlineCount, online };
  }

  async reap(): Promise<string[]> {
    return (await this.run('reap', this.reapBatch)) as string[];
  }

  async audit(): Promise<DriftRepair[]> {
    const flat = (await this.run('audit')) as (string | number)[];
    const repaired: DriftRepair[] = [];
    for (let i = 0; i + 3 < flat.length; i += 4) {
      const entry: DriftRepair = { userId: String(flat[i]), expected: Number(flat[i + 1]), found: Number(flat[i + 2]) };
      if (flat[i + 3] !== '') entry.action = String(flat[i + 3]);
      repaired.push(entry);
    }
    return repaired;
  }
}
