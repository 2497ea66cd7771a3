/**
 * Connects issued in the same turn of the event loop go to Redis as one `connect` script call:
 * in a storm that is one round trip, one write and one published event for a whole batch of
 * admissions instead of one each (the issue of the call itself waits for `setImmediate`: after
 * the I/O the loop is handling now, never longer).
 *
 * Contract, per caller: the same result as a call of its own. The script applies the batch's
 * pairs in the order they were issued (a user twice in one batch counts twice, and a per-user
 * limit sees the earlier one), and every caller's snapshot is the one taken after the whole
 * batch: consistent with the batch's seq, which covers the caller's own change. A failed call
 * fails every caller of its batch (each admission then degrades on its own, as before).
 * Order on the connection is kept: the store sends waiting connects (`flushNow`) before any
 * other script it runs, so a sync or a disconnect issued after a connect still follows it.
 */
import type { ConnectResult, Snapshot } from './types.js';

/** Most pairs in one script call: bounds the script's run time (Redis is single-threaded). */
export const CONNECT_BATCH_MAX = 256;

/** The `connect` script's reply: outcomes (1 online, 0 counted, 2 refused), seq, count, cursor, ids. */
export type ConnectReply = [number[], number, number, string, string[]];
export type RunConnect = (limit: number, max: number, pairs: string[]) => Promise<unknown>;

interface Waiting { userId: string; username: string; resolve: (r: ConnectResult) => void; reject: (err: unknown) => void }

export class ConnectBatcher {
  /** Batches waiting for the next turn, by `<limit>:<max>` (pairs in one call share both). */
  private readonly waiting = new Map<string, Waiting[]>();
  private scheduled = false;

  constructor(private readonly run: RunConnect) {}

  connect(userId: string, username: string, limit: number, max: number): Promise<ConnectResult> {
    return new Promise((resolve, reject) => {
      const key = `${limit}:${max}`;
      const list = this.waiting.get(key) ?? [];
      list.push({ userId, username, resolve, reject });
      this.waiting.set(key, list);
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flushNow());
    });
  }

  /** Send every waiting connect now (before a script issued after them). */
  flushNow(): void {
    this.scheduled = false;
    if (this.waiting.size === 0) return;
    for (const [key, list] of this.waiting) {
      const [limit, max] = key.split(':').map(Number);
      for (let i = 0; i < list.length; i += CONNECT_BATCH_MAX) void this.send(limit, max, list.slice(i, i + CONNECT_BATCH_MAX));
    }
    this.waiting.clear();
  }

  private async send(limit: number, max: number, batch: Waiting[]): Promise<void> {
    let reply: ConnectReply;
    try {
      reply = (await this.run(limit, max, batch.flatMap((w) => [w.userId, w.username]))) as ConnectReply;
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    const [outcomes, seq, count, cursor, online] = reply;
    batch.forEach((w, i) => {
      // A refusal's snapshot carries no ids (types.ts): the caller turns the client away.
      if (outcomes[i] === 2) return w.resolve({ wentOnline: false, refused: true, snapshot: { seq, online: [], onlineCount: count } });
      const snapshot: Snapshot = { seq, online, onlineCount: count };
      if (cursor !== '') snapshot.cursor = cursor;
      w.resolve({ wentOnline: outcomes[i] === 1, refused: false, snapshot });
    });
  }
}
