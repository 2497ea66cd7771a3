/**
 * Who is in one room (an action with room presence), as this page knows it: user ids only
 * (names come from the Roster). No DOM.
 *
 * Contract (the `members` command and `room` events, PROTOCOL.md):
 * - `read()` starts over and reads every page of `members`. A page is consistent with its
 *   `seq`. The first page's seq is the base: `room` events at or below it are already in it and
 *   are ignored, those above it are applied. Events that arrive before the first page are held
 *   until it comes (any event received before the read was sent is at or below its seq, so
 *   starting over drops nothing).
 * - Later pages add their users, except a user whose last applied change is newer than that
 *   page's seq (the page is older than what the event said). Pages may repeat users, and a
 *   batch may repeat a change the page already shows: adds and removes are idempotent.
 * - Every event applied is reported to `applied`, those held until the first page too.
 * - `reset()` (also the start of every read) forgets everything and bumps `generation`, so the
 *   pages of an older read are ignored. Read again after a reconnect and on `room_reset`.
 */
import type { MembersResult, RoomMessage } from '../../shared/protocol.js';

/** Most events held while the first page is on its way; the oldest go first (they are the ones at or below its seq). */
const MAX_HELD = 1000;

export class RoomMembers {
  /** Bumped by every reset: a read checks it after each page. */
  generation = 0;
  private base: number | undefined;
  private readonly ids = new Set<string>();
  private readonly changedAt = new Map<string, number>();
  private held: RoomMessage[] = [];
  private complete = false;
  private lastCount = 0;

  constructor(readonly action: string, private readonly applied: (msg: RoomMessage) => void = () => {}) {}

  reset(): void {
    this.generation += 1;
    this.base = undefined;
    this.ids.clear();
    this.changedAt.clear();
    this.held = [];
    this.complete = false;
    this.lastCount = 0;
  }

  /** True once the first page arrived. */
  get ready(): boolean {
    return this.base !== undefined;
  }

  /** Add a page of the read started at `generation`; false when a newer reset made it stale. */
  addPage(generation: number, page: MembersResult): boolean {
    if (generation !== this.generation) return false;
    if (this.base === undefined) {
      this.base = page.seq;
      for (const u of page.users) this.ids.add(u.id);
      const held = this.held;
      this.held = [];
      for (const msg of held) if (this.apply(msg)) this.applied(msg);
    } else {
      for (const u of page.users) if ((this.changedAt.get(u.id) ?? -1) <= page.seq) this.ids.add(u.id);
    }
    this.lastCount = page.count;
    if (!page.cursor) this.complete = true;
    return true;
  }

  /** Apply a `room` event of this room; returns whether it was applied (not held, not older than the base). */
  apply(msg: RoomMessage): boolean {
    if (msg.action !== this.action) return false;
    if (this.base === undefined) {
      this.held.push(msg);
      if (this.held.length > MAX_HELD) this.held.shift();
      return false;
    }
    if (msg.seq <= this.base) return false;
    for (const c of msg.changes) {
      if ((this.changedAt.get(c.userId) ?? -1) > msg.seq) continue;
      this.changedAt.set(c.userId, msg.seq);
      if (c.status === 'joined') this.ids.add(c.userId);
      else this.ids.delete(c.userId);
    }
    return true;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  list(): string[] {
    return [...this.ids];
  }

  /** Exact once every page is in; until then at least what the last page counted. */
  count(): number {
    return this.complete ? this.ids.size : Math.max(this.ids.size, this.lastCount);
  }

  /**
   * Start over and read every page with `members` (a client's, or anything answering like it);
   * `onPage` sees each page applied. Resolves false when a newer reset overtook this read.
   * Rejects with the request's error (e.g. `forbidden` where room presence is off).
   */
  async read(members: (action: string, cursor?: string) => Promise<MembersResult>, onPage?: (page: MembersResult) => void): Promise<boolean> {
    this.reset();
    const generation = this.generation;
    let cursor: string | undefined;
    do {
      const page = await members(this.action, cursor);
      if (!this.addPage(generation, page)) return false;
      onPage?.(page);
      cursor = page.cursor;
    } while (cursor);
    return true;
  }
}
