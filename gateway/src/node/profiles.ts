/**
 * Profile changes to the sockets that see the user (presence feed '*' or watching them), at most
 * one `profile` frame per user per window: changes of one user within `windowMs` are coalesced
 * (the last one wins), so a user who edits their profile in a burst costs each watcher one frame.
 * The frame goes out at the end of the window in which the first change arrived.
 */
import { profileFrame } from '../../../shared/frames.js';
import type { UserInfo } from '../../../shared/protocol.js';
import { topics, type LocalFanout } from '../connection.js';

/** The shortest window: a watcher gets at most four profile frames a second per user. */
const PROFILE_WINDOW_MS = 250;

export class ProfileFeed {
  private pending = new Map<string, UserInfo>();
  private timer: NodeJS.Timeout | undefined;

  private readonly windowMs: number;

  /** `batchMs`: the presence window (PRESENCE_BATCH_MS); the profile window is that, at least PROFILE_WINDOW_MS. */
  constructor(private readonly fanout: LocalFanout, batchMs: number) {
    this.windowMs = Math.max(batchMs, PROFILE_WINDOW_MS);
  }

  announce(user: UserInfo): void {
    this.pending.set(user.id, user);
    this.timer ??= setTimeout(() => this.flush(), this.windowMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const users = this.pending;
    this.pending = new Map();
    for (const user of users.values()) {
      const text = profileFrame(user);
      this.fanout.publish(topics.presenceAll, text);
      this.fanout.publish(topics.presenceOf(user.id), text);
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
