/**
 * What the server API's commands do to this node's connections (node/control.ts brings them
 * to every node): `disconnect` closes the user's connections (or one of them) with the given
 * code, noting a token revocation first so a reconnect with an old token is refused at once;
 * `unsubscribe` removes the user's connections from an action, tells each client with a
 * `left` frame, and the store publishes the room change as for a client's own `leave`.
 * `profile` (a user changed their name or picture) updates the user's connections here, so later
 * messages carry the new name, and sends watchers a `profile` frame.
 * All are idempotent: a connection already closed or not a member is not counted.
 */
import { leftFrame } from '../../../shared/frames.js';
import type { Revocations } from '../auth/revocations.js';
import { isOpen, sendTo } from '../connection.js';
import type { ControlCommand, ControlHandler } from '../node/control.js';
import type { Access } from '../channels/access.js';
import type { Hub } from '../node/hub.js';
import type { ProfileFeed } from '../node/profiles.js';
import { removeMember, type MembershipDeps } from './membership.js';
import type { ConnectionRecord } from './record.js';

export interface SteerDeps extends Pick<MembershipDeps, 'presence' | 'log' | 'markDirty' | 'writes'> {
  hub: Hub<ConnectionRecord>;
  revocations: Revocations;
  profiles: Pick<ProfileFeed, 'announce'>;
  /** The app's remembered answers of a user removed or disconnected are dropped: the next join asks again. */
  access: Pick<Access, 'forget'>;
}

/** Every counted connection of the user, lingering ones included: a profile reaches their next welcome too. */
function recordsOf(hub: Hub<ConnectionRecord>, userId: string): ConnectionRecord[] {
  const found: ConnectionRecord[] = [];
  for (const c of hub.all()) if (c.userId === userId) found.push(c);
  return found;
}

/** The user's open connections here. */
const connectionsOf = (hub: Hub<ConnectionRecord>, userId: string) => recordsOf(hub, userId).filter(isOpen);

export function createSteering(d: SteerDeps): ControlHandler {
  return async (cmd: ControlCommand) => {
    switch (cmd.op) {
      case 'disconnect': {
        d.access.forget(cmd.userId);
        if (cmd.revokedAt !== undefined) d.revocations.note(cmd.userId, cmd.revokedAt);
        const targets = connectionsOf(d.hub, cmd.userId).filter((c) => cmd.connectionId === undefined || c.id === cmd.connectionId);
        for (const c of targets) c.socket?.close(cmd.code, cmd.reason);
        return targets.length;
      }
      case 'unsubscribe': {
        d.access.forget(cmd.userId);
        let affected = 0;
        for (const c of connectionsOf(d.hub, cmd.userId)) {
          if (!(await removeMember(d, c, cmd.action))) continue;
          affected += 1;
          sendTo(c, leftFrame(cmd.action, cmd.reason));
        }
        return affected;
      }
      case 'profile': {
        const records = recordsOf(d.hub, cmd.user.id);
        for (const c of records) {
          c.displayName = cmd.user.displayName;
          c.avatarUrl = cmd.user.avatarUrl;
        }
        d.profiles.announce(cmd.user);
        return records.length;
      }
    }
  };
}
