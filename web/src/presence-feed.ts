/**
 * What the page's socket watches, on top of the package's exact presence (client.presence). No DOM.
 *
 * The gateway's `*` feed lists users while at most PRESENCE_LIST_MAX are online cluster-wide,
 * and counts them above that (PROTOCOL.md). The page follows:
 * - Listed: `*` (every change, needed for the full list); the names of those online are looked
 *   up as they appear (Profiles.fill).
 * - Counted: the socket watches the followed users (the search results, possibly none) with
 *   counts, so their changes and every count change keep arriving; each `follow()` sends that
 *   watch again.
 * - Listed again (a count frame or a watch answer says the cluster lists again): back to `*`,
 *   whose whole list the package reads again.
 *
 * `online(id)`: a followed user's state: the exact one while listed or watched, else the search
 * answer's. Listeners of `onChange` re-render.
 */
import { Emitter, type RealtimeClient } from '../../client/src/index.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

export class PresenceFeed {
  private followed = new Map<string, boolean>();
  private readonly events = new Emitter<{ change: void }>();

  constructor(private readonly client: RealtimeClient, private readonly roster: Roster, private readonly profiles: Profiles) {}

  /** Follow the client's presence; returns the function that stops. */
  start(): () => void {
    const presence = this.client.presence;
    const off = presence.on('change', (u) => {
      for (const c of u.changes) this.roster.learn(c.userId, c.username);
      if (presence.listed) void this.profiles.fill(u.reset ? presence.online : u.online);
      this.steer();
      this.events.emit('change', undefined);
    });
    return () => {
      off();
      this.followed.clear();
    };
  }

  onChange(fn: () => void): () => void {
    return this.events.on('change', fn);
  }

  /** The users shown besides the list, with their state as last known (a search answer's). */
  follow(users: Array<{ id: string; online: boolean }>): void {
    this.followed = new Map(users.map((u) => [u.id, u.online]));
    if (this.client.presence.watching !== '*') this.watchFollowed();
  }

  /** A followed user's state; undefined for others. */
  online(id: string): boolean | undefined {
    const presence = this.client.presence;
    if (!this.followed.has(id)) return undefined;
    const watched = presence.watching !== '*' && presence.watching.has(id);
    return presence.listed || watched ? presence.online.has(id) : this.followed.get(id);
  }

  /** Switch between `*` and the followed list when the cluster's listing mode changed. */
  private steer(): void {
    const presence = this.client.presence;
    if (presence.watching === '*' && !presence.clusterListed) this.watchFollowed();
    else if (presence.watching !== '*' && presence.clusterListed) void presence.watch('*').catch(() => {});
  }

  private watchFollowed(): void {
    void this.client.presence.watch([...this.followed.keys()]).catch(() => {}); // a dropped link: the next welcome sends it again
  }
}
