/**
 * Who is online and what they are called, as this page shows it. No DOM.
 *
 * The online set and its count are the client package's (`client.presence`, kept exact from the
 * welcome, pages, resets and changes; empty with only a count while the cluster is too large
 * to list). This adds the names:
 * - display name when known (profiles, messages), else username (presence changes, room
 *   events), else a short form of the id;
 * - profiles (`learnProfile`: the `users` command, search results, `profile` frames, the own
 *   welcome) are complete: they set the picture too, and an absent `avatarUrl` means none.
 *   `unprofiled(ids)` are those still to look up; `markAbsent` ids are not in the directory.
 */
import type { Presence } from '../../client/src/index.js';
import type { UserInfo } from '../../shared/protocol.js';

export interface Person {
  id: string;
  label: string;
  username?: string;
  avatarUrl?: string;
}

interface Names { username?: string; displayName?: string; avatarUrl?: string; profiled?: boolean }

/** What the roster reads of the client's presence. */
export type OnlineSource = Pick<Presence, 'online' | 'count' | 'listed'>;

const NOBODY: OnlineSource = { online: new Set(), count: 0, listed: true };

export class Roster {
  private readonly names = new Map<string, Names>();
  private readonly absent = new Set<string>();

  constructor(private readonly presence: OnlineSource = NOBODY) {}

  /** False while the cluster is too large to list: there is no list, only `count()`. */
  get listed(): boolean {
    return this.presence.listed;
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
    return this.presence.online.has(id);
  }

  count(): number {
    return this.presence.count;
  }

  /** The username, when known: shown beside display names, which anyone may pick (two users can both be "Alice"). */
  username(id: string): string | undefined {
    return this.names.get(id)?.username;
  }

  label(id: string): string {
    const n = this.names.get(id);
    return n?.displayName || n?.username || `user ${id.slice(0, 8)}`;
  }

  /** Online users sorted by label, case-insensitively (nobody while the cluster is too large to list). */
  list(): Person[] {
    if (!this.presence.listed) return [];
    return [...this.presence.online]
      .map((id) => ({ id, label: this.label(id), username: this.names.get(id)?.username, avatarUrl: this.avatar(id) }))
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { sensitivity: 'base' }));
  }
}
