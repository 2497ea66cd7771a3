/**
 * The last frames a node fanned out on one history action, so a member joining right after
 * a message passed gets it without a second history read. Bounded twice: per action
 * (PER_ACTION frames, PER_ACTION_BYTES) and per node (NODE_BYTES across all actions: past
 * it, the action being appended to gives up its oldest frames, down to none). A miss only
 * costs a read; nothing depends on a frame being kept.
 */

interface Kept { offset: string; prev: string; frame: string }

const PER_ACTION = 32;
const PER_ACTION_BYTES = 64 * 1024;
const NODE_BYTES = 8 * 1024 * 1024;

/** Bytes held by every RecentFrames of one node (string length: what V8 keeps for one-byte text). */
export class RecentBudget {
  used = 0;
  constructor(readonly limit: number) {}
  forAction(): RecentFrames {
    return new RecentFrames(this);
  }
}

export class RecentFrames {
  private readonly kept: Kept[] = [];
  private bytes = 0;

  constructor(private readonly budget: RecentBudget) {}

  static nodeBudget(limit = NODE_BYTES): RecentBudget {
    return new RecentBudget(limit);
  }

  push(offset: string, prev: string, frame: string): void {
    this.kept.push({ offset, prev, frame });
    this.account(frame.length);
    while (this.kept.length > 0 && (this.kept.length > PER_ACTION || this.bytes > PER_ACTION_BYTES || this.budget.used > this.budget.limit)) {
      this.account(-this.kept.shift()!.frame.length);
    }
  }

  /** The frames after `offset` up to the newest, when this buffer holds that whole run; else undefined. */
  after(offset: string): Kept[] | undefined {
    const i = this.kept.findIndex((k) => k.prev === offset);
    return i < 0 ? undefined : this.kept.slice(i);
  }

  clear(): void {
    this.account(-this.bytes);
    this.kept.length = 0;
  }

  get size(): number {
    return this.kept.length;
  }

  private account(delta: number): void {
    this.bytes += delta;
    this.budget.used += delta;
  }
}
