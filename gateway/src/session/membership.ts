/**
 * The membership commands: `join` and `joins` (join.ts), `leave`, `members`, and the writes to
 * the store they share.
 *
 * `pending` counts joins and leaves between their local change and their store write: while
 * any, the node's membership index is not comparable with its live connections (upkeep.ts).
 */
import type { MembersResult } from '../../../shared/protocol.js';
import type { Access } from '../channels/access.js';
import type { ChannelPolicy } from '../channels/policy.js';
import { isOpen } from '../connection.js';
import type { ConnectionRecord } from './record.js';
import type { HistoryFeeds } from '../history/feeds.js';
import type { Logger } from '../log.js';
import type { Hub } from '../node/hub.js';
import { CursorError, type RoomMembership } from '../presence/types.js';
import { profileOf, type UserDirectory } from '../users/types.js';
import { MEMBERSHIP_PER_S, type Quotas } from './quotas.js';
import { ack, CommandError, type Handlers } from './replies.js';

export interface MembershipDeps {
  hub: Hub<ConnectionRecord>;
  feeds: HistoryFeeds;
  presence: RoomMembership;
  users: UserDirectory;
  channels: ChannelPolicy;
  access: Access;
  log: Logger;
  markDirty: () => void;
  maxActions: number;
  /** Joins and leaves between their local change and their store write. */
  writes: { pending: number };
  /** Joins and leaves that change a membership, per user (quotas.ts). */
  quotas: Pick<Quotas, 'membership'>;
}

/** Most members in one `members` page. */
const MEMBERS_PAGE = 100;

type RegistryDeps = Pick<MembershipDeps, 'hub' | 'presence' | 'log' | 'markDirty' | 'writes'>;

/** Write a membership change to the store; a failed write marks the node for a re-sync. */
export function register(d: RegistryDeps, conn: ConnectionRecord, action: string, op: 'join' | 'leave'): void {
  const write = op === 'join' ? d.presence.join(action, conn.id, conn.userId, conn.username) : d.presence.leave(action, conn.id, conn.userId, conn.username);
  write.catch((err) => {
    d.log.warn({ err, action }, 'membership registry write failed; next sync repairs it');
    d.markDirty();
  });
}

/**
 * `conn` leaves `action` on this node and in the store (a client's `leave`, the server's
 * unsubscribe, a narrower claim); false when it was no member. A closed connection's memberships
 * are the close's to count out (release, then the store's disconnect): a leave that awaited
 * across the close changes nothing.
 */
export async function removeMember(d: RegistryDeps, conn: ConnectionRecord, action: string): Promise<boolean> {
  if (!isOpen(conn) || !conn.actions.delete(action)) return false;
  d.writes.pending += 1;
  try {
    await d.hub.left(conn, action);
    register(d, conn, action, 'leave');
  } finally {
    d.writes.pending -= 1;
  }
  return true;
}

export const limitedMembership = () => new CommandError('rate_limited', `at most ${MEMBERSHIP_PER_S} joins and leaves a second per user; retry later`);

export function membershipHandlers(d: MembershipDeps): Pick<Handlers, 'leave' | 'members'> {
  return {
    async leave(conn, msg) {
      if (conn.actions.has(msg.action) && !d.quotas.membership(conn.userId)) throw limitedMembership();
      await removeMember(d, conn, msg.action);
      ack(conn, msg, { action: msg.action, joined: false });
    },

    async members(conn, msg) {
      if (!conn.actions.has(msg.action)) throw new CommandError('not_member', `join "${msg.action}" to see who is in it`);
      const rules = d.channels.rules(msg.action);
      if (!rules.presence) throw new CommandError('forbidden', `room presence is off for namespace ${rules.name}`);
      let page;
      try {
        page = await d.presence.members(msg.action, msg.cursor, MEMBERS_PAGE);
      } catch (err) {
        if (err instanceof CursorError) throw new CommandError('bad_request', 'members: cursor is not one this server handed out');
        throw err;
      }
      const users = page.users.map(({ id, username }) => {
        const user = d.users.byId(id);
        return user ? profileOf(user) : { id, username, displayName: username };
      });
      const result: MembersResult = { action: msg.action, users, count: page.count, seq: page.seq };
      if (page.cursor) result.cursor = page.cursor;
      ack(conn, msg, result);
    },
  };
}
