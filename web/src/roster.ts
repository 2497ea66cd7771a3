/**
 * Who is online, as this page knows it. No DOM.
 *
 * Two modes, as the `*` presence feed has (PROTOCOL.md, PRESENCE_LIST_MAX):
 * - Listed: the online set itself, from a snapshot (welcome, `presence_reset`, or `relist()`)
 *   plus pages plus presence changes; `count()` is its size.
 * - Counted (more users online than the cluster lists): no list at all, only the cluster's
 *   count (`counted(n)`, from `welcome.onlineListed` false, `presence_count`, a watch ack).
 *   Entering it drops the list: nothing stale stays; `list()` is empty, `isOnline()` false,
 *   and presence changes (of watched users only) teach names but list no one.
 *
 * Contract:
 * - `reset(welcome)` starts over from a welcome (every new connection), listed or counted as
 *   the welcome says; `replace()` from a `presence_reset` snapshot (listed again); `relist(n)`
 *   from nothing, listed, the whole set to page with `online` from no cursor. Names learned
 *   earlier are kept, since ids carry none.
 * - `addPage(generation, users, done)` adds a page fetched with the `online` command; a page
 *   from an older generation (before a newer reset, relist or counted) is ignored. A user whose
 *   presence changed since the reset keeps that state: a change is at least as new as any page.
 * - `apply(changes)` applies presence changes in arrival order (the gateway sequences them).
 * - Names: display name when known (profiles, messages), else username (presence changes),
 *   else a short form of the id.
 * - Profiles (`learnProfile`: the `users` command, search results, `profile` frames, the own
 *   welcome) are complete: they set the picture too, and an absent `avatarUrl` means none.
 *   `unprofiled(ids)` are those still to look up; `markAbsent` ids are not in the directory.
 */
import type { PresenceChange, UserInfo, WelcomeMessage } from '../../shared/protocol.js';

export interface Person {
  id: string;
  label: string;
  username?: string;
  avatarUrl?: string;
}

interface Names { username?: string; displayName?: string; avatarUrl?: string; profiled?: boolean }

export class Roster {
  private readonly online = new Set<string>();
  private readonly changedSinceReset = new Set<string>();
  private readonly names = new Map<string, Names>();
  private readonly absent = new Set<string>();
  /** The snapshot's count (listed, until every page is in), or the cluster's (counted). */
  private knownCount = 0;
  private complete = true;
  private listing = true;
  /** Bumped by every reset, relist and counted(); pass it back to addPage. */
  generation = 0;

  /** False while the `*` feed counts instead of listing: there is no list, only `count()`. */
  get listed(): boolean {
    return this.listing;
  }

  /** A new connection: listed unless the welcome says `onlineListed: false` (absent: an older gateway, which always lists). */
  reset(welcome: WelcomeMessage): void {
    if (welcome.onlineListed === false) this.counted(welcome.onlineCount);
    else this.replace(welcome.online, welcome.onlineCursor, welcome.onlineCount);
    this.learnProfile(welcome.user);
  }

  /** Start over (listed) from a snapshot of online ids; `cursor`: more pages to fetch with addPage. */
  replace(online: string[], cursor?: string, count = online.length): void {
    this.restart(true, count);
    for (const id of online) this.online.add(id);
    this.complete = !cursor;
  }

  /** Listed again, from nothing: every page is still to come (`online` from no cursor); `count` until then. */
  relist(count: number): void {
    this.restart(true, count);
    this.complete = false;
  }

  /** Counted: drop the list (pages still on their way included) and hold the cluster's count. */
  counted(count: number): void {
    this.restart(false, count);
  }

  addPage(generation: number, users: string[], done: boolean): void {
    if (generation !== this.generation || !this.listing) return;
    for (const id of users) if (!this.changedSinceReset.has(id)) this.online.add(id);
    if (done) this.complete = true;
  }

  /** Applies `changes`; returns the ids whose state changed (none while counted: names only). */
  apply(changes: PresenceChange[]): string[] {
    const changed: string[] = [];
    for (const c of changes) {
      this.learn(c.userId, c.username);
      if (!this.listing) continue;
      this.changedSinceReset.add(c.userId);
      const was = this.online.has(c.userId);
      if (c.status === 'online') this.online.add(c.userId);
      else this.online.delete(c.userId);
      if (was !== (c.status === 'online')) changed.push(c.userId);
    }
    return changed;
  }

  /** Remember a user's names; a missing name never erases a known one. */
  learn(id: string, username?: string, displayName?: string): void {
    const known = this.names.get(id) ?? {};
    this.names.set(id, { ...known, username: username || known.username, displayName: displayName || known.displayName });
  }

  /** Remember a complete profile: names and picture (none when `avatarUrl` is absent). */
  learnProfile(user: UserInfo): void {
    this.names.set(user.id, { username: user.username, displayName: user.displayName, avatarUrl: user.avatarUrl, profiled: true });
    this.absent.delete(user.id);
  }

  /** Ids of `ids` without a complete profile that may still be in the directory. */
  unprofiled(ids: Iterable<string>): string[] {
    const out = new Set<string>();
    for (const id of ids) if (!this.names.get(id)?.profiled && !this.absent.has(id)) out.add(id);
    return [...out];
  }

  /** These ids are not in the directory: keep showing them by username or id, stop asking. */
  markAbsent(ids: string[]): void {
    for (const id of ids) this.absent.add(id);
  }

  /** The complete profile of `id`, once one was learned. */
  profile(id: string): UserInfo | undefined {
    const n = this.names.get(id);
    if (!n?.profiled) return undefined;
    return { id, username: n.username ?? id, displayName: n.displayName ?? n.username ?? id, ...(n.avatarUrl ? { avatarUrl: n.avatarUrl } : {}) };
  }

  avatar(id: string): string | undefined {
    return this.names.get(id)?.avatarUrl;
  }

  isOnline(id: string): boolean {
    return this.online.has(id);
  }

  /** Listed: exact once every page is in, until then at least the snapshot's count. Counted: the cluster's. */
  count(): number {
    if (!this.listing) return this.knownCount;
    return this.complete ? this.online.size : Math.max(this.online.size, this.knownCount);
  }

  /** The username, when known: shown beside display names, which anyone may pick (two users can both be "Alice"). */
  username(id: string): string | undefined {
    return this.names.get(id)?.username;
  }

  label(id: string): string {
    const n = this.names.get(id);
    return n?.displayName || n?.username || `user ${id.slice(0, 8)}`;
  }

  /** Online users sorted by label, case-insensitively. */
  list(): Person[] {
    return [...this.online]
      .map((id) => ({ id, label: this.label(id), username: this.names.get(id)?.username, avatarUrl: this.avatar(id) }))
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { sensitivity: 'base' }));
  }

  clear(): void {
    this.restart(true, 0);
  }

  private restart(listing: boolean, count: number): void {
    this.generation += 1;
    this.online.clear();
    this.changedSinceReset.clear();
    this.listing = listing;
    this.knownCount = count;
    this.complete = true;
  }
}
