/**
 * Keeps this node's share of cluster presence true over time.
 *
 * - At start, `sync` replaces whatever a previous incarnation with the same node id left
 *   in the store (it died without a goodbye) with this node's (empty) account.
 * - Every lease/3 the lease is refreshed; if the node was reaped meanwhile (a long pause)
 *   or a write may have been lost (store unreachable, store restarted empty), the node's
 *   whole share is re-synced from its live connections.
 * - Every lease/3, jittered, any expired node is reaped; the store guarantees a dead node
 *   is settled once however many nodes try.
 * - Drift only this node can see (a membership left in the store for a connection it no
 *   longer has, whatever wrote it) is found at the lease refresh: the store reports the size
 *   of this node's membership index, the node compares it with its live memberships when no
 *   join or leave is between its local change and its store write, and re-syncs on a difference.
 */
import type { Hub } from './hub.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { PresenceFeed } from './presence-feed.js';
import type { PresenceAccount } from '../presence/types.js';

export class PresenceUpkeep {
  private dirty = true;
  /** Set when the store may have lost state others relied on (lost lease, reconnect): clients' views need a reset. */
  private viewsStale = false;
  private onResynced: () => void = () => {};
  private busy = false;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(
    private readonly store: Pick<PresenceAccount, 'refreshLease' | 'sync' | 'reap'>,
    private readonly hub: Hub,
    private readonly feed: PresenceFeed,
    private readonly leaseMs: number,
    private readonly log: Logger,
    private readonly metrics?: Pick<Metrics, 'reapedNodes' | 'presenceDrift'>,
    /** Spreads the nodes' reaper runs (tests pass a fixed one). */
    private readonly random: () => number = Math.random,
    /** Joins and leaves whose store write is not issued yet: while any, the index size is not comparable. */
    private readonly membershipWritesPending: () => number = () => 0,
  ) {}

  /** Settle a previous incarnation and register the lease; throws when the store is unreachable. */
  async start(): Promise<void> {
    await this.store.sync(this.hub.account());
    this.dirty = false;
    const every = Math.max(200, Math.floor(this.leaseMs / 3));
    this.timers.push(setInterval(() => void this.tick(), every));
    const reap = () => {
      if (this.stopped) return;
      this.store.reap()
        .then((nodes) => {
          if (nodes.length === 0) return;
          this.metrics?.reapedNodes.inc(nodes.length);
          this.log.info({ nodes }, 'reaped expired nodes');
        })
        .catch((err) => this.log.debug({ err }, 'reap failed'))
        .finally(() => this.timers.push(setTimeout(reap, every * (0.5 + this.random()))));
    };
    this.timers.push(setTimeout(reap, every * this.random()));
  }

  markDirty(): void {
    this.dirty = true;
  }

  /** The store came back after a disconnect (possibly empty): resync now. */
  reconnected(): void {
    this.feed.reset();
    this.dirty = true;
    this.viewsStale = true;
    void this.tick();
  }

  /**
   * `cb` runs after a re-sync that followed a reconnect or a lost lease, once the other nodes
   * had time to re-sync too (a third of a lease, at least 500 ms). Changes that happened while
   * the store was away (a user who left during the outage) were never published, so the
   * caller refreshes its clients' views from a new snapshot.
   */
  afterResync(cb: () => void): void {
    this.onResynced = () => {
      const timer = setTimeout(() => {
        if (!this.stopped) cb();
      }, Math.max(500, this.leaseMs / 3));
      timer.unref();
    };
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (!this.dirty) await this.checkLease();
      if (this.dirty) {
        this.dirty = false;
        await this.store.sync(this.hub.account());
        this.log.info({ connections: this.hub.size }, 'presence re-synced from live connections');
        if (this.viewsStale) {
          this.viewsStale = false;
          this.onResynced();
        }
      }
    } catch (err) {
      this.dirty = true;
      this.log.warn({ err }, 'presence upkeep failed; will retry');
    } finally {
      this.busy = false;
    }
  }

  /** Refresh the lease; mark the share dirty when it was lost, or when the membership index drifted. */
  private async checkLease(): Promise<void> {
    const comparable = this.membershipWritesPending() === 0;
    const expected = this.hub.membershipCount();
    const lease = await this.store.refreshLease();
    if (lease.lost) {
      this.log.warn('lease lost (node was reaped or the store restarted); re-syncing presence');
      this.dirty = true;
      this.viewsStale = true;
    } else if (comparable && lease.memberships !== expected) {
      this.log.warn({ stored: lease.memberships, live: expected }, 'membership index drifted from live connections; re-syncing');
      this.metrics?.presenceDrift.inc(Math.abs(lease.memberships - expected));
      this.dirty = true;
    }
  }

  /** Stop timers and remove this node's whole share in one step (graceful stop). */
  /** Never rejects: when the store is unreachable, the lease's expiry settles the share instead. */
  async retire(): Promise<void> {
    this.stop();
    try {
      await this.store.sync({ users: new Map(), memberships: new Map() });
    } catch (err) {
      this.log.warn({ err }, 'could not remove presence at stop; the lease expiry will');
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }
}
