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
 *   P presence:node:<id>:members        SET   "<action>\n<connectionId>"
 *   P action:<action>:members           SET   connection ids
 *   channel P presence                  JSON PresenceEvent per change batch
 * Redis Cluster needs a hash-tagged prefix such as '{gw}' (scripts build keys from it).
 * Do not give the injected clients an ioredis `keyPrefix`: scripts build keys themselves.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import type { PresenceChange } from '../../../shared/protocol.js';
import { CursorError, type ConnectResult, type DriftRepair, type NodeAccount, type PresenceEvent, type PresenceStore, type Snapshot } from './types.js';

export interface RedisPresenceOptions {
  /** Commands and scripts. Owned by the caller: `close()` leaves it connected. */
  redis: Redis;
  /** Used only for SUBSCRIBE (may be shared with other subscribers). Owned by the caller. */
  subscriber: Redis;
  prefix?: string;
  /** Unique per running node; no ':' or newline (it is part of key names). */
  nodeId: string;
  /** How long a lease lasts without `refreshLease()`. */
  leaseMs: number;
  /** Most expired nodes one `reap()` settles (default 10). */
  reapBatch?: number;
  logger?: Logger;
}

const SCRIPTS = ['lease', 'connect', 'disconnect', 'membership', 'sync', 'reap', 'audit'] as const;
type ScriptName = (typeof SCRIPTS)[number];
type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

function loadScript(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}
const COMMON = loadScript('common');
const LUA: Record<ScriptName, string> = Object.fromEntries(
  SCRIPTS.map((name) => [name, `${COMMON}\n${loadScript(name)}`]),
) as Record<ScriptName, string>;
const commandName = (name: ScriptName) => `presence_${name}`;

/** Registers the scripts on `redis` once (EVALSHA, falling back to EVAL after NOSCRIPT). */
function defineScripts(redis: Redis): void {
  for (const name of SCRIPTS) {
    if (!(commandName(name) in redis)) redis.defineCommand(commandName(name), { numberOfKeys: 4, lua: LUA[name] });
  }
}

/** Reads a published event; returns undefined for anything that is not a well-formed PresenceEvent. */
export function parsePresenceEvent(raw: string): PresenceEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { seq, changes } = value as { seq?: unknown; changes?: unknown };
  if (typeof seq !== 'number' || !Array.isArray(changes) || changes.length === 0) return undefined;
  return changes.every(isChange) ? { seq, changes } : undefined;
}

function isChange(c: unknown): c is PresenceChange {
  if (typeof c !== 'object' || c === null) return false;
  const { userId, username, status, ts } = c as Record<string, unknown>;
  return typeof userId === 'string' && typeof username === 'string' && typeof ts === 'number' && (status === 'online' || status === 'offline');
}

/** Largest SSCAN cursor (2^64 - 1). */
const MAX_SCAN = 0xffffffffffffffffn;

/** Parses an `online()` cursor: '0' (or none) starts; CursorError for anything this store did not hand out. */
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
  private readonly subscriber: Redis;
  private readonly prefix: string;
  private readonly nodeId: string;
  private readonly leaseMs: number;
  private readonly reapBatch: number;
  private readonly logger?: Logger;
  private readonly channel: string;
  private readonly keys: string[];
  private handler: (event: PresenceEvent) => void = () => {};
  private listening = false;

  constructor(opts: RedisPresenceOptions) {
    validateNodeId(opts.nodeId);
    if (!(opts.leaseMs > 0)) throw new TypeError('presence leaseMs must be > 0');
    this.redis = opts.redis;
    this.subscriber = opts.subscriber;
    this.prefix = opts.prefix ?? '';
    this.nodeId = opts.nodeId;
    this.leaseMs = Math.ceil(opts.leaseMs);
    this.reapBatch = Math.max(1, opts.reapBatch ?? 10);
    this.logger = opts.logger?.child({ component: 'presence' });
    this.channel = `${this.prefix}presence`;
    const p = this.prefix;
    this.keys = [`${p}online_users`, `${p}presence:counts`, `${p}presence:seq`, `${p}presence:nodes`];
    defineScripts(this.redis);
  }

  /**
   * Subscribes to the event channel; events published before it resolves are not delivered.
   * Call once, before `sync()`. The subscriber re-subscribes by itself after a reconnect.
   */
  async start(): Promise<void> {
    if (this.listening) return;
    this.listening = true;
    this.subscriber.on('message', this.onMessage);
    await this.subscriber.subscribe(this.channel);
  }

  /** Stops listening (unsubscribes, removes the listener); the injected clients stay open. */
  async close(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    this.subscriber.off('message', this.onMessage);
    if (this.subscriber.status === 'ready') await this.subscriber.unsubscribe(this.channel);
  }

  onEvent(handler: (event: PresenceEvent) => void): void {
    this.handler = handler;
  }

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel) return;
    const event = parsePresenceEvent(message);
    if (!event) {
      this.logger?.warn({ channel, bytes: message.length }, 'dropped malformed presence event');
      return;
    }
    this.handler(event);
  };

  private run(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[commandName(name)];
    return fn.call(this.redis, ...this.keys, this.prefix, this.channel, this.nodeId, ...args);
  }

  async refreshLease(): Promise<'ok' | 'lost'> {
    return (await this.run('lease', this.leaseMs)) === 1 ? 'ok' : 'lost';
  }

  async connect(userId: string, username: string, snapshotLimit: number, maxPerUser = 0): Promise<ConnectResult> {
    const limit = Math.max(0, Math.floor(snapshotLimit));
    const max = Math.max(0, Math.floor(maxPerUser));
    const reply = (await this.run('connect', userId, username, limit, max)) as [number, number, number, string, string[], number];
    const [went, seq, count, cursor, online, refused] = reply;
    const snapshot: Snapshot = { seq, online, onlineCount: count };
    if (cursor !== '') snapshot.cursor = cursor;
    return { wentOnline: went === 1, refused: refused === 1, snapshot };
  }

  async disconnect(userId: string, username: string, connectionId: string, actions: Iterable<string>) {
    const went = await this.run('disconnect', userId, username, connectionId, ...actions);
    return { wentOffline: went === 1 };
  }

  async join(action: string, connectionId: string): Promise<void> {
    await this.run('membership', 'join', action, connectionId);
  }

  async leave(action: string, connectionId: string): Promise<void> {
    await this.run('membership', 'leave', action, connectionId);
  }

  members(action: string): Promise<string[]> {
    return this.redis.smembers(`${this.prefix}action:${action}:members`);
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
    const rest = found.slice(skip);
    // Small sets come back whole from one SSCAN: page through that reply by offset.
    if (rest.length > count) return { users: rest.slice(0, count), cursor: `${scan}:${skip + count}` };
    return next === '0' ? { users: rest } : { users: rest, cursor: next };
  }

  async sync(account: NodeAccount): Promise<void> {
    const users = [...account.users].filter(([, u]) => u.count > 0).map(([id, u]) => [id, u.count, u.username]);
    const members: [string, string][] = [];
    for (const [conn, actions] of account.memberships) for (const action of actions) members.push([action, conn]);
    await this.run('sync', this.leaseMs, JSON.stringify(users), JSON.stringify(members));
  }

  async reap(): Promise<string[]> {
    return (await this.run('reap', this.reapBatch)) as string[];
  }

  async audit(): Promise<DriftRepair[]> {
    const flat = (await this.run('audit')) as (string | number)[];
    const repaired: DriftRepair[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      repaired.push({ userId: String(flat[i]), expected: Number(flat[i + 1]), found: Number(flat[i + 2]) });
    }
    return repaired;
  }
}
