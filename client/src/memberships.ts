/**
 * The actions a client keeps joined across reconnects, the stream position it holds on each,
 * and how it joins each one again. No I/O.
 *
 * Positions (actions with history): a join's ack carries `offset` and `epoch`, the position up
 * to which the member has every message, even before any message arrived; each message then
 * carries its `offset` (of the same epoch). The position only moves forward within an epoch (a
 * live message may overtake its join's ack); an ack of another epoch (the stream was created
 * anew) replaces it.
 *
 * Contract (the rule for a re-join after a reconnect):
 * - a position is known: `since` + `epoch`. The ack says `recovered: true` (every message after
 *   it comes first, in order, once) or `false` (the gap is older than the history, or the epoch
 *   changed: nothing old comes; the caller must reload the state);
 * - no position yet and joined with `history: N` (state-like actions, e.g. a dashboard): the
 *   last N messages again, so a reconnect brings the current state back; the same after a
 *   re-join that was not recovered (`reload()`), until the next ack;
 * - otherwise a plain join: actions without history carry no positions, and what was published
 *   while disconnected is lost (delivery is at-most-once).
 * A first join (not a re-join) is plain, or `history: N` when asked for.
 */
import { compareOffsets } from '../../shared/offsets.js';
import type { JoinCommand } from '../../shared/protocol.js';

export interface JoinOptions {
  /** Deliver the last N messages first (actions with history only): on the first join, and on a re-join without a position. */
  history?: number;
}

/** Where a member stands in an action's stream: it has every message up to `offset`. */
export interface StreamPosition { offset: string; epoch?: string }

/** `reload`: the next join asks for `history` again (a re-join could not recover), whatever the position. */
interface Membership { history?: number; position?: StreamPosition; reload?: boolean }

export class Memberships {
  private readonly joined = new Map<string, Membership>();

  /** Keep `action` joined; joining it again keeps the position held. */
  add(action: string, opts: JoinOptions = {}): void {
    this.joined.set(action, { history: opts.history, position: this.joined.get(action)?.position });
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

  /** The `history: N` the action was joined with, if any. */
  historyOf(action: string): number | undefined {
    return this.joined.get(action)?.history;
  }

  /** The position held on `action`, once its history told one. */
  position(action: string): StreamPosition | undefined {
    const p = this.joined.get(action)?.position;
    return p && { ...p };
  }

  /** A join's ack: its `offset`/`epoch` (actions with history) is a position the member has. */
  acked(action: string, result: { offset?: string; epoch?: string }): void {
    const m = this.joined.get(action);
    if (!m || result.offset === undefined) return;
    m.reload = false;
    const held = m.position;
    // Offsets seen before the first ack told an epoch belong to the stream this ack describes.
    const sameStream = held !== undefined && (held.epoch === undefined || held.epoch === result.epoch);
    const offset = sameStream && compareOffsets(held.offset, result.offset) > 0 ? held.offset : result.offset;
    const epoch = result.epoch ?? (sameStream ? held.epoch : undefined);
    m.position = epoch === undefined ? { offset } : { offset, epoch };
  }

  /**
   * A re-join of a `history: N` action was not recovered: its next join asks for the last N
   * again (the current state), not `since`, until a join is acknowledged.
   */
  reload(action: string): void {
    const m = this.joined.get(action);
    if (m?.history !== undefined) m.reload = true;
  }

  /** A message delivered on `action` with `offset` (none on actions without history). */
  seen(action: string, offset: string | undefined): void {
    const m = this.joined.get(action);
    if (!m || offset === undefined) return;
    if (m.position && compareOffsets(offset, m.position.offset) <= 0) return;
    m.position = { ...m.position, offset };
  }

  /** The join command (without id) for `action`: the first join, or a re-join after a reconnect. */
  command(action: string, rejoin: boolean): Omit<JoinCommand, 'id'> {
    const m = this.joined.get(action);
    const p = m?.position;
    if (rejoin && p && !m.reload) return p.epoch === undefined ? { type: 'join', action, since: p.offset } : { type: 'join', action, since: p.offset, epoch: p.epoch };
    if (m?.history !== undefined) return { type: 'join', action, history: m.history };
    return { type: 'join', action };
  }
}
