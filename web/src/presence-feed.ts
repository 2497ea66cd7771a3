/**
 * Which presence feed the page's socket is on, and the Roster kept in step with it. No DOM.
 *
 * The gateway's `*` feed lists users while at most PRESENCE_LIST_MAX are online cluster-wide,
 * and counts them above that (PROTOCOL.md). The page follows:
 * - Listed: it stays on `*` (every change, needed for the full list). The list comes from the
 *   welcome or a `presence_reset` (ids, then `online` pages), then presence changes.
 * - Counted (`welcome.onlineListed` false, or a `presence_count` with `listed: false` on `*`):
 *   the Roster drops its list and holds the count; the socket watches the followed users (the
 *   search results, possibly none) with `count: true`, so their changes and every count
 *   change keep arriving. Each `follow()` sends that watch again; its ack sets the badges and
 *   the count.
 * - Back to listed: a `presence_count` with `listed: true` (list watches get those) switches to
 *   `*` and, once that is acked, rebuilds the list by paging `online` from no cursor; a
 *   `presence_reset` (reason 'listed') on `*` is a snapshot like any other.
 * Only the newest watch counts: an ack of an older one is ignored. A watch ack may say the
 * other mode already (the cluster grew or shrank meanwhile): the feed switches again.
 *
 * `online(id)`: a followed user's state, from the search answer, watch acks and changes.
 * Listeners of `onChange` re-render: the list, the count, the badges or `problem` changed.
 */
import type { OnlinePage, PresenceChange, PresenceCountMessage, PresenceResetMessage, WatchResult, WelcomeMessage } from '../../shared/protocol.js';
import { RequestError, type GatewayClient } from './client.js';
import { Emitter } from './emitter.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

const INCOMPLETE = 'The list may be incomplete.';
/** A page refused by the message rate limit is asked for again after this. */
export const PAGE_RETRY_MS = 1000;
const STALE = 'Online badges may be out of date.';

export class PresenceFeed {
  /** What the socket was last told to watch (a new connection starts on `*`). */
  private watching: '*' | 'list' = '*';
  private watchSeq = 0;
  private followed = new Map<string, boolean>();
  private readonly events = new Emitter<{ change: void }>();
  /** Why the panel may be wrong, until the next snapshot: '' when it is not. */
  problem = '';

  constructor(private readonly client: GatewayClient, private readonly roster: Roster, private readonly profiles: Profiles) {}

  /** Follow the client's frames; returns the function that stops. */
  start(): () => void {
    const offs = [
      this.client.on('welcome', (w) => this.welcomed(w)),
      this.client.on('presenceReset', (r) => this.reset(r)),
      this.client.on('presence', ({ changes }) => this.changed(changes)),
      this.client.on('presenceCount', (c) => this.counted(c)),
    ];
    return () => {
      for (const off of offs) off();
      this.watchSeq += 1;
      this.followed.clear();
    };
  }

  onChange(fn: () => void): () => void {
    return this.events.on('change', fn);
  }

  /** The users shown besides the list, with their state as last known (a search answer's). */
  follow(users: Array<{ id: string; online: boolean }>): void {
    this.followed = new Map(users.map((u) => [u.id, u.online]));
    if (this.watching === 'list') this.watchList();
  }

  /** A followed user's state; undefined for others. */
  online(id: string): boolean | undefined {
    return this.followed.get(id);
  }

  private emit(): void {
    this.events.emit('change', undefined);
  }

  private welcomed(w: WelcomeMessage): void {
    this.watching = '*';
    this.watchSeq += 1;
    this.problem = '';
    this.roster.reset(w);
    if (this.roster.listed) void this.pages(this.roster.generation, w.online, w.onlineCursor);
    else this.watchList();
    this.emit();
  }

  private reset(r: PresenceResetMessage): void {
    if (this.watching === 'list') return this.watchList(); // meant for `*`: the watch's ack says what holds now
    this.problem = '';
    this.roster.replace(r.online, r.onlineCursor);
    void this.pages(this.roster.generation, r.online, r.onlineCursor);
    this.emit();
  }

  private changed(changes: PresenceChange[]): void {
    this.roster.apply(changes);
    if (this.roster.listed) void this.profiles.fill(changes.filter((c) => c.status === 'online').map((c) => c.userId));
    for (const c of changes) if (this.followed.has(c.userId)) this.followed.set(c.userId, c.status === 'online');
    this.emit();
  }

  private counted({ onlineCount, listed }: PresenceCountMessage): void {
    if (listed) {
      if (this.watching === 'list') this.relist(onlineCount);
      return; // on `*` while listed, changes and resets carry everything
    }
    this.roster.counted(onlineCount);
    if (this.watching === '*') this.watchList(); // the `*` feed stopped listing
    this.emit();
  }

  /** Watch the followed users with counts; the ack holds their state, the count and the mode. */
  private watchList(): void {
    this.watching = 'list';
    const mine = ++this.watchSeq;
    const ids = [...this.followed.keys()];
    this.client.request<WatchResult>({ type: 'watch', users: ids, count: true }).then((res) => {
      if (mine !== this.watchSeq) return;
      if (res.onlineListed) return this.relist(res.onlineCount);
      this.roster.counted(res.onlineCount);
      const on = new Set(res.online ?? []);
      for (const id of ids) if (this.followed.has(id)) this.followed.set(id, on.has(id));
      this.problem = '';
      this.emit();
    }, (err) => this.failed(mine === this.watchSeq, err, STALE));
  }

  /** Listed again: back to `*`, then the whole online set from its first page. */
  private relist(count: number): void {
    this.watching = '*';
    const mine = ++this.watchSeq;
    this.roster.relist(count);
    const generation = this.roster.generation;
    this.problem = '';
    this.emit();
    this.client.request<WatchResult>({ type: 'watch', users: '*' }).then((res) => {
      if (mine !== this.watchSeq) return;
      if (!res.onlineListed) {
        this.roster.counted(res.onlineCount);
        this.watchList();
        return this.emit();
      }
      void this.pages(generation, [], undefined, true);
    }, (err) => this.failed(mine === this.watchSeq, err, INCOMPLETE));
  }

  /** Name the snapshot's ids, then page the rest (all of it `fromStart`) while `generation` holds. */
  private async pages(generation: number, first: string[], cursor: string | undefined, fromStart = false): Promise<void> {
    void this.profiles.fill(first);
    let more = fromStart || cursor !== undefined;
    while (more && generation === this.roster.generation) {
      try {
        const page = await this.client.request<OnlinePage>(cursor === undefined ? { type: 'online' } : { type: 'online', cursor });
        this.roster.addPage(generation, page.users, !page.cursor);
        void this.profiles.fill(page.users);
        cursor = page.cursor;
        more = cursor !== undefined;
      } catch (err) {
        if (err instanceof RequestError && err.code === 'rate_limited') {
          await new Promise((r) => setTimeout(r, PAGE_RETRY_MS)); // the same page again, unless a newer snapshot came
          continue;
        }
        return this.failed(generation === this.roster.generation, err, INCOMPLETE);
      }
      this.emit();
    }
  }

  /** A request failed: shown while `current`, unless the link dropped (the next welcome mends that). */
  private failed(current: boolean, err: unknown, problem: string): void {
    if (!current || (err instanceof RequestError && err.code === 'disconnected')) return;
    this.problem = problem;
    this.emit();
  }
}
