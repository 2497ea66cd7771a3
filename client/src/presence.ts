/**
 * Who is online, kept exact from the server's frames (PROTOCOL.md, presence).
 *
 * Watching `*` (every connection's default):
 * - listed (at most PRESENCE_LIST_MAX users online cluster-wide): `online` is the cluster's
 *   online set: a snapshot (the welcome, or a `presence_reset`), its further pages read with
 *   `online` from the snapshot's cursor, and the changes applied in arrival order. A user whose
 *   presence changed since the snapshot keeps that state when a page lists them: a change is at
 *   least as new as any page. A page refused by the rate limit is asked for again after a second.
 * - counted (more online than that): `listed` is false, `online` is empty and `count` is the
 *   cluster's count (`presence_count` frames). Watch a list to know about particular users.
 * Watching a list (`watch(ids)`): `online` holds those of the list who are online, from the
 * watch's answer and their changes; `count` is the cluster's count (`count: true` frames).
 * Only the newest watch counts, and it is sent again after every reconnect.
 */
import type {
  OnlinePage, PresenceChange, PresenceCountMessage, PresenceResetMessage, WatchResult, WelcomeMessage,
} from '../../shared/protocol.js';
import { Emitter } from './emitter.js';
import { RequestError } from './errors.js';
import type { Command } from './link.js';
import type { Timers } from './timers.js';

/**
 * What changed: users who came online or went offline, or `reset`: `online` was replaced (read it
 * again). `changes`: the server's changes behind it, with usernames (empty for snapshots and pages).
 */
export interface PresenceUpdate { online: string[]; offline: string[]; reset: boolean; changes: PresenceChange[] }

/** A page refused by the rate limit is asked for again after this. */
export const PAGE_RETRY_MS = 1000;

type Request = <T>(cmd: Command) => Promise<T>;

export class Presence {
  private readonly ids = new Set<string>();
  private readonly changed = new Set<string>();
  private readonly events = new Emitter<{ change: PresenceUpdate }>();
  private want: '*' | ReadonlySet<string> = '*';
  private snapshotCount = 0;
  private pagesDone = true;
  private isListed = true;
  private feedListed = true;
  private generation = 0;
  private watchSeq = 0;
  /** Whether the app has looked at the online set; until then its pages are not read. */
  private looked = false;
  private deferred: { generation: number; cursor: string | undefined } | undefined;

  constructor(private readonly request: Request, private readonly timers: Timers) {}

  /** The online users: the whole cluster's while `listed`, else those of the watched list. */
  get online(): ReadonlySet<string> {
    this.look();
    return this.ids;
  }

  /** Users online cluster-wide (exact once every page of a listed snapshot is in). */
  get count(): number {
    return this.isListed && this.want === '*' && this.pagesDone ? this.ids.size : Math.max(this.snapshotCount, this.isListed ? this.ids.size : 0);
  }

  /** True when `online` is the cluster's whole online set (watching `*` in a small cluster). */
  get listed(): boolean {
    return this.isListed && this.want === '*';
  }

  /**
   * Whether the cluster's `*` feed lists users (at most PRESENCE_LIST_MAX online): true while
   * `listed`; while watching a list, what the latest answer or count frame said (watch `*` again
   * to get the whole list).
   */
  get clusterListed(): boolean {
    return this.feedListed;
  }

  /** What this client watches: every change (`*`), or a list of users. */
  get watching(): '*' | ReadonlySet<string> {
    return this.want;
  }

  isOnline(userId: string): boolean {
    this.look();
    return this.ids.has(userId);
  }

  on(event: 'change', fn: (update: PresenceUpdate) => void): () => void {
    this.look();
    return this.events.on(event, fn);
  }

  /** Follow every change (`*`) or these users (at most 1,000); resolves once the server answered. */
  watch(users: '*' | readonly string[]): Promise<void> {
    this.want = users === '*' ? '*' : new Set(users);
    return this.sendWatch();
  }

  /** A new connection: it starts on `*`; a watched list is sent again. */
  welcomed(w: WelcomeMessage): void {
    if (this.want !== '*') return void this.sendWatch().catch(() => {});
    this.watchSeq += 1;
    this.feedListed = w.onlineListed !== false;
    if (!this.feedListed) return this.counted(w.onlineCount);
    this.replace(w.online, w.onlineCount, w.onlineCursor);
  }

  /** A presence frame of the current connection. */
  frame(msg: PresenceChange[] | PresenceResetMessage | PresenceCountMessage): void {
    if (Array.isArray(msg)) return this.apply(msg);
    if (msg.type === 'presence_count') {
      this.snapshotCount = msg.onlineCount;
      this.feedListed = msg.listed;
      if (this.want === '*' && !msg.listed && this.isListed) return this.counted(msg.onlineCount);
      return this.emit([], [], false);
    }
    // A list watcher's reset holds exactly its watched users online now (one meant for `*`, sent
    // before the watch took effect, lists others too).
    const want = this.want;
    if (want !== '*') return this.set(msg.online.filter((id) => want.has(id)), false, this.snapshotCount, true);
    this.feedListed = true; // `*` gets resets only while the feed lists
    this.replace(msg.online, msg.online.length, msg.onlineCursor);
  }

  private async sendWatch(): Promise<void> {
    const mine = (this.watchSeq += 1);
    const want = this.want;
    const cmd: Command = want === '*' ? { type: 'watch', users: '*' } : { type: 'watch', users: [...want], count: true };
    const res = await this.request<WatchResult>(cmd);
    if (mine !== this.watchSeq) return;
    this.feedListed = res.onlineListed;
    if (want !== '*') return this.set(res.online ?? [], false, res.onlineCount, true);
    if (!res.onlineListed) return this.counted(res.onlineCount);
    this.set([], true, res.onlineCount, false);
    this.walk(undefined);
  }

  private counted(count: number): void {
    this.set([], false, count, true);
  }

  /** A listed snapshot, then its pages from `cursor`. */
  private replace(online: string[], count: number, cursor: string | undefined): void {
    this.set(online, true, count, cursor === undefined);
    if (cursor !== undefined) this.walk(cursor);
  }

  /**
   * The pages after `cursor` are read once the app looks (a `change` listener, `online`,
   * `isOnline`): an app that never shows presence sends no `online` frame after a reconnect.
   * Reading them late is still exact: a user changed since the snapshot is skipped in pages.
   */
  private walk(cursor: string | undefined): void {
    if (this.looked) return void this.pages(this.generation, cursor);
    this.deferred = { generation: this.generation, cursor };
  }

  private look(): void {
    if (this.looked) return;
    this.looked = true;
    const d = this.deferred;
    this.deferred = undefined;
    if (d !== undefined && d.generation === this.generation) void this.pages(d.generation, d.cursor);
  }

  private set(online: readonly string[], listed: boolean, count: number, complete: boolean): void {
    this.generation += 1;
    this.ids.clear();
    this.changed.clear();
    for (const id of online) this.ids.add(id);
    this.isListed = listed;
    this.snapshotCount = count;
    this.pagesDone = complete;
    this.emit([], [], true);
  }

  private apply(changes: PresenceChange[]): void {
    const on: string[] = [];
    const off: string[] = [];
    for (const c of changes) {
      if (this.want !== '*' && !this.want.has(c.userId)) continue;
      if (this.want === '*' && !this.isListed) continue;
      this.changed.add(c.userId);
      if (c.status === 'offline') {
        if (this.ids.delete(c.userId)) off.push(c.userId);
      } else if (!this.ids.has(c.userId)) {
        this.ids.add(c.userId);
        on.push(c.userId);
      }
    }
    if (on.length + off.length > 0) this.emit(on, off, false, changes);
  }

  /** Read the pages after `cursor` (all of them from none) while `generation` holds. */
  private async pages(generation: number, cursor: string | undefined): Promise<void> {
    for (let n = 0; generation === this.generation && n < 100_000; n += 1) {
      let page: OnlinePage;
      try {
        page = await this.request<OnlinePage>(cursor === undefined ? { type: 'online' } : { type: 'online', cursor });
      } catch (err) {
        if (!(err instanceof RequestError && err.code === 'rate_limited')) return; // a new connection starts over
        await new Promise<void>((r) => this.timers.setTimeout(() => r(), PAGE_RETRY_MS));
        continue;
      }
      if (generation !== this.generation) return;
      const added = page.users.filter((id) => !this.changed.has(id) && !this.ids.has(id));
      for (const id of added) this.ids.add(id);
      cursor = page.cursor;
      if (cursor === undefined) this.pagesDone = true;
      this.emit(added, [], false);
      if (cursor === undefined) return;
    }
  }

  private emit(online: string[], offline: string[], reset: boolean, changes: PresenceChange[] = []): void {
    this.events.emit('change', { online, offline, reset, changes });
  }
}
