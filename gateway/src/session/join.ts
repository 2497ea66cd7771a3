/**
 * `join` and `joins` (several joins in one frame: a reconnecting client's whole set, each with
 * its position). A join is checked against the channel policy first (access.ts): a refusal names
 * the rule, and nothing is written anywhere. An allowed join makes the connection a member on
 * this node (broker subscription, room watch), then registers it in the store (room presence,
 * the cluster's membership), then catches it up on history when the action keeps one. A
 * connection that closed meanwhile is never registered (it was already counted out); one that
 * left meanwhile gets `joined: false`.
 *
 * `joins` answers once, after every join of the frame settled, with each one's result or refusal
 * in the frame's order; the history frames of every action come before that ack.
 */
import type { ErrorCode, JoinCommand, JoinResult, JoinsResult } from '../../../shared/protocol.js';
import type { ChannelRules } from '../channels/policy.js';
import { isOpen } from '../connection.js';
import { limitedMembership, register, type MembershipDeps } from './membership.js';
import { ownActions, type ConnectionRecord } from './record.js';
import { ack, CommandError, type Handlers } from './replies.js';

type JoinRequest = Omit<JoinCommand, 'type' | 'id'>;

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

/** The checks before anything is written: the action cap, the user's join rate, the channel policy. */
async function admit(d: MembershipDeps, conn: ConnectionRecord, req: JoinRequest, rules: ChannelRules): Promise<void> {
  const full = () => new CommandError('too_many_actions', `at most ${d.maxActions} actions per connection`);
  if (conn.actions.size + conn.joining >= d.maxActions) throw full();
  if (!d.quotas.membership(conn.userId)) throw limitedMembership();
  conn.joining += 1;
  let check;
  try {
    check = await d.access.join(conn, req.action, rules, req.token);
  } finally {
    conn.joining -= 1;
  }
  if (!check.ok) throw new CommandError(check.code, check.message);
  if (conn.actions.size >= d.maxActions && !conn.actions.has(req.action)) throw full();
}

/** Become a member here and in the store; false when a `leave` or a close overtook the join. */
async function become(d: MembershipDeps, conn: ConnectionRecord, action: string, rules: ChannelRules): Promise<boolean> {
  d.writes.pending += 1;
  let written = false;
  try {
    await subscribe(d, conn, action, rules);
    // Closed meanwhile: already counted out, registering now would leave an orphan.
    if (!isOpen(conn) || !conn.actions.has(action)) return false;
    register(d, conn, action, 'join');
    written = true;
    return true;
  } finally {
    d.writes.pending -= 1;
    if (!written && isOpen(conn) && conn.actions.has(action)) d.markDirty();
  }
}

/** One join; undefined when the connection closed meanwhile (nobody to answer). Throws CommandError for a refusal. */
export async function joinAction(d: MembershipDeps, conn: ConnectionRecord, req: JoinRequest): Promise<JoinResult | undefined> {
  const { action } = req;
  if (conn.actions.has(action)) return { action, joined: true };
  const rules = d.channels.rules(action);
  await admit(d, conn, req, rules);
  if (!isOpen(conn)) return undefined;
  if (conn.actions.has(action)) return { action, joined: true };
  if (!(await become(d, conn, action, rules))) return isOpen(conn) ? { action, joined: false } : undefined;
  if (!rules.history) return { action, joined: true };
  const caught = await d.feeds.join(conn, action, rules.history, { since: req.since, epoch: req.epoch, history: req.history });
  if (!isOpen(conn)) return undefined;
  if (!conn.actions.has(action)) return { action, joined: false };
  const result: JoinResult = { action, joined: true, offset: caught.position.offset, epoch: caught.position.epoch };
  if (caught.recovered !== undefined) result.recovered = caught.recovered;
  if (req.since !== undefined || req.history !== undefined) result.delivered = caught.delivered;
  return result;
}

/** A refusal of one join of a `joins` frame, as its entry in the results. */
function refusal(action: string, err: unknown): JoinsResult['results'][number] {
  const code: ErrorCode = err instanceof CommandError ? err.code : 'unavailable';
  const message = err instanceof CommandError ? err.message : 'join failed: a backing service is unreachable';
  return { action, joined: false, error: { code, message } };
}

export function joinHandlers(d: MembershipDeps): Pick<Handlers, 'join' | 'joins'> {
  return {
    async join(conn, msg) {
      const result = await joinAction(d, conn, msg);
      if (result) ack(conn, msg, result);
    },

    async joins(conn, msg) {
      const results = await Promise.all(msg.joins.map((req) => joinAction(d, conn, req).catch((err: unknown) => {
        if (!(err instanceof CommandError)) d.log.warn({ err, action: req.action }, 'join of a batch failed');
        return refusal(req.action, err);
      })));
      if (!isOpen(conn)) return;
      ack(conn, msg, { results: results.map((r, i) => r ?? { action: msg.joins[i].action, joined: false }) });
    },
  };
}
