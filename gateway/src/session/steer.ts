/**
 * What the server API's commands do to this node's connections (node/control.ts brings them
 * to every node): `disconnect` closes the user's connections (or one of them) with the given
 * code, noting a token revocation first so a reconnect with an old token is refused at once;
 * `unsubscribe` removes the user's connections from an action, tells each client with a
 * `left` frame, and the store publishes the room change as for a client's own `leave`.
 * Both are idempotent: a connection already closed or not a member is not counted.
 */
import type { LeftMessage } from '../../../shared/protocol.js';
import type { Revocations } from '../auth/revocations.js';
import { sendTo, type Connection } from '../connection.js';
import type { ControlCommand, ControlHandler } from '../node/control.js';
import type { Hub } from '../node/hub.js';
import { removeMember, type MembershipDeps } from './membership.js';

export interface SteerDeps extends Pick<MembershipDeps, 'presence' | 'log' | 'markDirty' | 'writes'> {
  hub: Hub;
  revocations: Revocations;
}

function connectionsOf(hub: Hub, userId: string): Connection[] {
  const found: Connection[] = [];
  for (const c of hub.all()) if (c.userId === userId && !c.closed) found.push(c);
  return found;
}

export function createSteering(d: SteerDeps): ControlHandler {
  return async (cmd: ControlCommand) => {
    if (cmd.op === 'disconnect') {
      if (cmd.revokedAt !== undefined) d.revocations.note(cmd.userId, cmd.revokedAt);
      const targets = connectionsOf(d.hub, cmd.userId).filter((c) => cmd.connectionId === undefined || c.id === cmd.connectionId);
      for (const c of targets) c.socket?.close(cmd.code, cmd.reason);
      return targets.length;
    }
    let affected = 0;
    for (const c of connectionsOf(d.hub, cmd.userId)) {
      if (!(await removeMember(d, c, cmd.action))) continue;
      affected += 1;
      const frame: LeftMessage = { type: 'left', action: cmd.action, reason: cmd.reason };
      sendTo(c, JSON.stringify(frame));
    }
    return affected;
  };
}
