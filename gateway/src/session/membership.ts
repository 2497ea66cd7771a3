/**
 * The membership commands: `join`, `leave`, `members`.
 *
 * A join is checked against the channel policy first (access.ts): a refusal is an error frame
 * naming the rule, and nothing is written anywhere. An allowed join makes the connection a
 * member on this node (broker subscription, room watch), then registers it in the store (room
 * presence, the cluster's membership), then catches it up on history when the action keeps
 * one. A connection that closed meanwhile is never registered (it was already counted out);
 * one that left meanwhile gets `joined: false`.
 *
 * `pending` counts joins and leaves between their local change and their store write: while
 * any, the node's membership index is not comparable with its live connections (upkeep.ts).
 */
import type { JoinResult, MembersResult } from '../../../shared/protocol.js';
import type { Access } from '../channels/access.js';
import type { ChannelPolicy, ChannelRules } from '../channels/policy.js';
import { isOpen } from '../connection.js';
import { ownActions, type ConnectionRecord } from './record.js';
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
function register(d: RegistryDeps, conn: ConnectionRecord, action: string, op: 'join' | 'leave'): void {
  const write = op === 'join' ? d.presence.join(action, conn.id, conn.userId, conn.username) : d.presence.leave(action, conn.id, conn.userId, conn.username);
  write.catch((err) => {
    d.log.warn({ err, action }, 'membership registry write failed; next sync repairs it');
    d.markDirty();
  });
}

/** `conn` leaves `action` on this node and in the store (a client's `leave`, or the server's unsubscribe). */
export async function removeMember(d: RegistryDeps, conn: ConnectionRecord, action: string): Promise<boolean> {
  if (!conn.actions.delete(action)) return false;
  d.writes.pending += 1;
  try {
    await d.hub.left(conn, action);
    register(d, conn, action, 'leave');
  } finally {
    d.writes.pending -= 1;
  }
  return true;
}

const limitedMembership = () => new CommandError('rate_limited', `at most ${MEMBERSHIP_PER_S} joins and leaves a second per user; retry later`);

/** Record the membership, then make this node deliver `action` to `conn`; a failed subscription undoes the record. */
async function subscribe(d: Pick<MembershipDeps, 'hub'>, conn: ConnectionRecord, action: string, rules: ChannelRules): Promise<void> {
  ownActions(conn).add(action);
  try {
    await d.hub.join(conn, action, { attach: !rules.history, room: rules.presence });
  } catch (err) {
    if (conn.actions.delete(action)) await d.hub.left(conn, action);
    throw err;
  }
}

export function membershipHandlers(d: MembershipDeps): Pick<Handlers, 'join' | 'leave' | 'members'> {

  return {
    async join(conn, msg) {
      const { action } = msg;
      if (conn.actions.has(action)) return ack(conn, msg, { action, joined: true });
      if (conn.actions.size + conn.joining >= d.maxActions) throw new CommandError('too_many_actions', `at most ${d.maxActions} actions per connection`);
      if (!d.quotas.membership(conn.userId)) throw limitedMembership();
      const rules = d.channels.rules(action);
      conn.joining += 1;
      let check;
      try {
        check = await d.access.join(conn, action, rules, msg.token);
      } finally {
        conn.joining -= 1;
      }
      if (!check.ok) throw new CommandError(check.code, check.message);
      if (!isOpen(conn)) return;
      if (conn.actions.has(action)) return ack(conn, msg, { action, joined: true });
      if (conn.actions.size >= d.maxActions) throw new CommandError('too_many_actions', `at most ${d.maxActions} actions per connection`);
      d.writes.pending += 1;
      let written = false;
      try {
        await subscribe(d, conn, action, rules);
        // Closed meanwhile: already counted out, registering now would leave an orphan.
        if (!isOpen(conn)) return;
        // A `leave` handled while this join waited: answer with the state it left.
        if (!conn.actions.has(action)) return ack(conn, msg, { action, joined: false });
        register(d, conn, action, 'join');
        written = true;
      } finally {
        d.writes.pending -= 1;
        if (!written && isOpen(conn) && conn.actions.has(action)) d.markDirty();
      }
      if (!rules.history) return ack(conn, msg, { action, joined: true });
      const caught = await d.feeds.join(conn, action, rules.history, { since: msg.since, epoch: msg.epoch, history: msg.history });
      if (!isOpen(conn)) return;
      if (!conn.actions.has(action)) return ack(conn, msg, { action, joined: false });
      const result: JoinResult = { action, joined: true, offset: caught.position.offset, epoch: caught.position.epoch };
      if (caught.recovered !== undefined) result.recovered = caught.recovered;
      if (msg.since !== undefined || msg.history !== undefined) result.delivered = caught.delivered;
      ack(conn, msg, result);
    },

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
