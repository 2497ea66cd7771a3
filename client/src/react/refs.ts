/**
 * Channel joins shared by the components of one client, reference counted: the first component
 * on a channel joins it, the last one to go leaves it (at the end of the task, so StrictMode's
 * unmount-and-mount keeps the join), and every component hears a refusal of the shared join.
 */
import type { RealtimeClient } from '../client.js';
import type { JoinOptions } from '../memberships.js';

/** Components using a channel, its pending leave, and the join they share (every one of them hears its refusal). */
export interface Users { count: number; leaving?: ReturnType<typeof setTimeout>; join?: Promise<unknown> }
const users = new WeakMap<RealtimeClient, Map<string, Users>>();

/** One more component uses `name`: the first one joins (a pending leave is called off instead). Returns what to release. */
export function acquire(client: RealtimeClient, name: string, opts: JoinOptions | undefined, failed: (err: Error) => void): Users {
  let byName = users.get(client);
  if (!byName) users.set(client, (byName = new Map()));
  const entry = byName.get(name) ?? { count: 0 };
  byName.set(name, entry);
  entry.count += 1;
  if (entry.leaving !== undefined) {
    clearTimeout(entry.leaving);
    entry.leaving = undefined;
  } else if (entry.count === 1 && !entry.join) {
    // A refusal ends this entry, so a later mount asks again.
    entry.join = client.channel(name).join(opts).catch((err: unknown) => {
      if (byName!.get(name) === entry) byName!.delete(name);
      throw err;
    });
  }
  entry.join?.catch(failed);
  return entry;
}

/**
 * One component fewer on `entry`: the last one leaves, at the end of this task (a remount in
 * between keeps the join). An entry a refusal ended is no longer the channel's: releasing it
 * leaves nothing (a later mount's join is its own).
 */
export function release(client: RealtimeClient, name: string, entry: Users): void {
  const byName = users.get(client);
  if (!byName || (entry.count -= 1) > 0) return;
  entry.leaving = setTimeout(() => {
    if (entry.count > 0 || byName.get(name) !== entry) return;
    byName.delete(name);
    void client.channel(name).leave();
  }, 0);
}
