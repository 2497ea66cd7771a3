/**
 * The actions a client keeps joined across reconnects, and how it joins each one again. No I/O.
 *
 * Contract (the rule for a re-join after a reconnect):
 * - joined with `history: N` (state-like actions, e.g. a dashboard): every re-join asks for the
 *   last N messages again, so a reconnect brings the current state back;
 * - otherwise, once a message with an `offset` arrived (the server keeps history for the
 *   action), the re-join asks for what came after it (`since`); its ack says `recovered: true`
 *   (every missed message comes first, in order) or `false` (the gap is older than the history);
 * - actions without history carry no offsets: a re-join is a plain join, and what was published
 *   while disconnected is lost (delivery is at-most-once).
 */
import type { JoinCommand } from '../../shared/protocol.js';

export interface JoinOptions {
  /** Deliver the last N messages first (actions with history only), on every (re)join. */
  history?: number;
}

interface Membership { history?: number; offset?: string }

export class Memberships {
  private readonly joined = new Map<string, Membership>();

  /** Keep `action` joined; joining it again keeps the last offset seen. */
  add(action: string, opts: JoinOptions = {}): void {
    this.joined.set(action, { history: opts.history, offset: this.joined.get(action)?.offset });
  }

  delete(action: string): void {
    this.joined.delete(action);
  }

  has(action: string): boolean {
    return this.joined.has(action);
  }

  get actions(): string[] {
    return [...this.joined.keys()];
  }

  /** Record the offset of a message delivered on `action` (no-op without one). */
  seen(action: string, offset: string | undefined): void {
    const m = this.joined.get(action);
    if (m && offset !== undefined) m.offset = offset;
  }

  /** The join command (without id) for `action`: the first join, or a re-join after a reconnect. */
  command(action: string, rejoin: boolean): Omit<JoinCommand, 'id'> {
    const m = this.joined.get(action);
    if (m?.history !== undefined) return { type: 'join', action, history: m.history };
    if (rejoin && m?.offset !== undefined) return { type: 'join', action, since: m.offset };
    return { type: 'join', action };
  }
}
