/**
 * Joining channels, and joining them all again after every reconnect in one `joins` frame,
 * each from the position it holds (memberships.ts). Per channel:
 * - an ack records the position and is reported (`joined`, `rejoin` for the batch);
 * - a refusal the client cannot fix (forbidden, bad_request, …) forgets the channel and reports
 *   `left` with the error; one that may pass later (rate_limited, unavailable) keeps it and tries
 *   those again after a backoff;
 * - `recovered: false` on an action joined with `history: N` leaves and joins it again with
 *   `history: N`, so its current state comes back as messages (`unrecovered`, `reloading`).
 * A `join()` while disconnected resolves at the next connection's batch. More channels than one
 * frame takes (MAX_BATCHED_JOINS) go in several; a frame refused whole is sent again as one
 * `join` per channel, so every channel gets its own answer and no `join()` is left waiting.
 */
import { MAX_BATCHED_JOINS, type JoinResult, type JoinsResult } from '../../shared/protocol.js';
import type { Channel, ChannelHost } from './channel.js';
import { RequestError } from './errors.js';
import type { JoinOptions } from './memberships.js';
import type { Timers } from './timers.js';

/** Refusals worth trying again later: the limit refills, the backing service comes back. */
const TRANSIENT = new Set(['rate_limited', 'unavailable', 'timeout']);
const RETRY_MS = 2000;

interface Waiter { resolve(r: JoinResult): void; reject(err: Error): void }

export class Rejoins {
  private readonly waiting = new Map<string, Waiter[]>();
  private retry: unknown;

  constructor(private readonly host: ChannelHost, private readonly channel: (name: string) => Channel, private readonly timers: Timers) {}

  /** Keep `ch` joined; join it now when connected, else at the next connection. */
  async join(ch: Channel, opts: JoinOptions | undefined, connected: boolean): Promise<JoinResult> {
    const m = this.host.memberships;
    m.add(ch.name, opts);
    if (!connected) return new Promise((resolve, reject) => this.waiting.set(ch.name, [...(this.waiting.get(ch.name) ?? []), { resolve, reject }]));
    try {
      const result = await this.host.request<JoinResult>(m.command(ch.name, false));
      this.acked(ch.name, result, false);
      return result;
    } catch (err) {
      if (err instanceof RequestError && !TRANSIENT.has(err.code) && err.code !== 'disconnected') m.delete(ch.name);
      throw err;
    }
  }

  /** After a welcome: every channel kept, in as few frames as the protocol allows; what may pass later, again after RETRY_MS. */
  all(names = this.host.memberships.actions): void {
    this.timers.clearTimeout(this.retry);
    const slices: string[][] = [];
    for (let i = 0; i < names.length; i += MAX_BATCHED_JOINS) slices.push(names.slice(i, i + MAX_BATCHED_JOINS));
    void Promise.all(slices.map((s) => this.batch(s))).then((lists) => {
      const again = lists.flat();
      const m = this.host.memberships;
      if (again.length > 0) this.retry = this.timers.setTimeout(() => this.all(again.filter((n) => m.has(n))), RETRY_MS);
    });
  }

  /** One `joins` frame; resolves with the names to try again later. */
  private async batch(names: string[]): Promise<string[]> {
    const m = this.host.memberships;
    const joins = names.map((name) => {
      const { type: _, ...join } = m.command(name, true);
      return join;
    });
    try {
      const res = await this.host.request<JoinsResult>({ type: 'joins', joins });
      const again: string[] = [];
      res.results.forEach((r, i) => ('error' in r ? this.refused(names[i], r.error.code, r.error.message, again) : this.acked(names[i], r, true)));
      return again;
    } catch (err) {
      // No answer in time, or the user's limit: the batch again later. A dropped link: the next
      // welcome tries again. Anything else (an older gateway without `joins`, a frame refused
      // whole): one join each, each answered on its own.
      const code = (err as RequestError).code;
      if (code === 'timeout' || code === 'rate_limited') return names;
      if (code !== 'disconnected') for (const name of names) void this.one(name);
      return [];
    }
  }

  /** The client closed: joins waiting for a connection fail. */
  stop(): void {
    this.timers.clearTimeout(this.retry);
    for (const [name, list] of this.waiting) for (const w of list) w.reject(new RequestError('disconnected', `closed before "${name}" was joined`));
    this.waiting.clear();
  }

  private async one(name: string): Promise<void> {
    const m = this.host.memberships;
    try {
      this.acked(name, await this.host.request<JoinResult>(m.command(name, true)), true);
    } catch (err) {
      if (err instanceof RequestError && err.code !== 'disconnected') this.refused(name, err.code, err.message, []);
    }
  }

  private refused(name: string, code: string, message: string, again: string[]): void {
    const error = new RequestError(code as RequestError['code'], message);
    if (TRANSIENT.has(code)) return void again.push(name);
    this.host.memberships.delete(name);
    for (const w of this.take(name)) w.reject(error);
    this.channel(name).emit('left', { reason: message, error });
  }

  private acked(name: string, result: JoinResult, rejoin: boolean): void {
    const m = this.host.memberships;
    m.acked(name, result);
    for (const w of this.take(name)) w.resolve(result);
    const ch = this.channel(name);
    ch.emit('joined', { result, rejoin });
    if (rejoin) void ch.reread(); // a member again: its list is read anew
    if (result.recovered !== false || !m.has(name)) return;
    const history = m.historyOf(name);
    ch.emit('unrecovered', { result, reloading: history !== undefined });
    if (history === undefined) return;
    m.reload(name);
    // Already a member: only a leave makes the server deliver the last N again.
    this.host.request({ type: 'leave', action: name }).then(() => (m.has(name) ? this.one(name) : undefined), () => {});
  }

  private take(name: string): Waiter[] {
    const list = this.waiting.get(name) ?? [];
    this.waiting.delete(name);
    return list;
  }
}
