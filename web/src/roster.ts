/**
 * Who is online, as this page knows it. No DOM.
 *
 * Contract:
 * - `reset(welcome)` starts over from a welcome snapshot (every new connection); names
 *   learned earlier are kept, since ids in the snapshot carry none.
 * - `addPage(generation, users, done)` adds a page fetched with the `online` command; a page
 *   from an older generation (before a newer reset) is ignored. A user whose presence changed
 *   since the reset keeps that state: a change is at least as new as any page.
 * - `apply(changes)` applies presence changes in arrival order (the gateway sequences them).
 * - Names: display name when known (search results, messages, own welcome), else username
 *   (presence changes), else a short form of the id.
 */
import type { PresenceChange, WelcomeMessage } from '../../shared/protocol.js';

export interface Person {
  id: string;
  label: string;
  username?: string;
}

export class Roster {
  private readonly online = new Set<string>();
  private readonly changedSinceReset = new Set<string>();
  private readonly names = new Map<string, { username?: string; displayName?: string }>();
  private welcomeCount = 0;
  private complete = true;
  /** Bumped by every reset; pass it back to addPage. */
  generation = 0;

  reset(welcome: WelcomeMessage): void {
    this.generation += 1;
    this.online.clear();
    this.changedSinceReset.clear();
    for (const id of welcome.online) this.online.add(id);
    this.welcomeCount = welcome.onlineCount;
    this.complete = !welcome.onlineCursor;
    this.learn(welcome.user.id, welcome.user.username, welcome.user.displayName);
  }

  addPage(generation: number, users: string[], done: boolean): void {
    if (generation !== this.generation) return;
    for (const id of users) if (!this.changedSinceReset.has(id)) this.online.add(id);
    if (done) this.complete = true;
  }

  /** Applies `changes`; returns the ids whose state changed. */
  apply(changes: PresenceChange[]): string[] {
    const changed: string[] = [];
    for (const c of changes) {
      this.learn(c.userId, c.username);
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
    this.names.set(id, { username: username || known.username, displayName: displayName || known.displayName });
  }

  isOnline(id: string): boolean {
    return this.online.has(id);
  }

  /** Exact once every page is in; until then at least the snapshot's count. */
  count(): number {
    return this.complete ? this.online.size : Math.max(this.online.size, this.welcomeCount);
  }

  label(id: string): string {
    const n = this.names.get(id);
    return n?.displayName || n?.username || `user ${id.slice(0, 8)}`;
  }

  /** Online users sorted by label, case-insensitively. */
  list(): Person[] {
    return [...this.online]
      .map((id) => ({ id, label: this.label(id), username: this.names.get(id)?.username }))
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { sensitivity: 'base' }));
  }

  clear(): void {
    this.generation += 1;
    this.online.clear();
    this.changedSinceReset.clear();
    this.welcomeCount = 0;
    this.complete = true;
  }
}
