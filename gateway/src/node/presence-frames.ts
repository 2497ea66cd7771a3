/**
 * Presence frames as sent to clients, built once per window and shared by every watcher:
 * `presence` (changes), `presence_reset` (a snapshot) and `presence_count` (the online count).
 */
import { presenceCountFrame, presenceFrame, presenceResetFrame } from '../../../shared/frames.js';
import type { PresenceChange, PresenceResetMessage } from '../../../shared/protocol.js';
import { isOpen, sendTo, topics, type Connection, type LocalFanout } from '../connection.js';
import type { Logger } from '../log.js';
import type { PresenceStore } from '../presence/types.js';

/**
 * Per user, the net effect of consecutive transitions (the store publishes each user's
 * changes alternating online/offline): none for an even count, the last one for an odd count.
 * Order among users is kept, by each user's last change.
 */
export function coalesce<C extends { userId: string }>(changes: C[]): C[] {
  const byUser = new Map<string, { count: number; last: C; at: number }>();
  changes.forEach((c, i) => {
    const seen = byUser.get(c.userId);
    byUser.set(c.userId, { count: (seen?.count ?? 0) + 1, last: c, at: i });
  });
  if (byUser.size === changes.length) return changes;
  return [...byUser.values()].filter((u) => u.count % 2 === 1).sort((a, b) => a.at - b.at).map((u) => u.last);
}

/** Users online after `changes` minus before them (each user's changes alternate, so raw or coalesced give the same net). */
export function netOnline(changes: PresenceChange[]): number {
  let net = 0;
  for (const c of changes) net += c.status === 'online' ? 1 : -1;
  return net;
}

/** `changes` as presence frames of at most `maxBytes` each (a single oversized change gets its own), in order. */
export function frames(changes: PresenceChange[], maxBytes: number): string[] {
  const out: string[] = [];
  let batch: PresenceChange[] = [];
  let bytes = 0;
  for (const c of changes) {
    const size = JSON.stringify(c).length + 1;
    if (batch.length > 0 && bytes + size > maxBytes - 40) {
      out.push(presenceFrame(batch));
      batch = [];
      bytes = 0;
    }
    batch.push(c);
    bytes += size;
  }
  if (batch.length > 0) out.push(presenceFrame(batch));
  return out;
}

/** Each watched user's changes to the sockets watching that user (only users someone here watches). */
export function publishPerUser(fanout: LocalFanout, changes: PresenceChange[]): void {
  const byUser = new Map<string, PresenceChange[]>();
  for (const c of changes) {
    if (fanout.subscribers(topics.presenceOf(c.userId)) === 0) continue;
    const list = byUser.get(c.userId) ?? [];
    list.push(c);
    byUser.set(c.userId, list);
  }
  for (const [userId, list] of byUser) fanout.publish(topics.presenceOf(userId), presenceFrame(list));
}

export type ResetReason = NonNullable<PresenceResetMessage['reason']>;


/** Ids per `isOnline` read when refreshing list watchers (a watch list holds at most 1000). */
const IS_ONLINE_BATCH = 1000;

/**
 * After the store came back from an outage (changes made during it, a user who left, were
 * never published): every local socket watching '*' gets a fresh snapshot of the online set
 * while the feed lists (`listed`; counting, the fresh count is the news), and every socket
 * watching a list gets a `presence_reset` of its own: which of its users are online now.
 */
export async function sendPresenceReset(
  store: Pick<PresenceStore, 'online' | 'isOnline'>, conns: Iterable<Connection>, limit: number, log: Logger, listed = true,
): Promise<void> {
  const open = [...conns].filter(isOpen);
  try {
    if (listed) {
      const page = await store.online(undefined, limit);
      const text = presenceResetFrame(page, 'outage');
      for (const c of open) if (c.watching === '*') sendTo(c, text);
      log.info({ users: page.users.length }, 'sent clients a fresh presence snapshot after the store returned');
    }
    // Every watched id read once (watchers share the users they watch), 1000 at a time.
    const lists = open.filter((c): c is Connection & { watching: ReadonlySet<string> } => c.watching !== '*' && c.watching.size > 0);
    const ids = [...new Set(lists.flatMap((c) => [...c.watching]))];
    const online = new Set<string>();
    for (let i = 0; i < ids.length; i += IS_ONLINE_BATCH) {
      const part = ids.slice(i, i + IS_ONLINE_BATCH);
      const flags = await store.isOnline(part);
      part.forEach((id, j) => flags[j] && online.add(id));
    }
    for (const c of lists) sendTo(c, presenceResetFrame({ users: [...c.watching].filter((id) => online.has(id)) }, 'outage'));
  } catch (err) {
    log.warn({ err }, 'presence reset snapshot failed');
  }
}
