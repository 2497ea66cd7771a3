/**
 * The batched `connect` script (./lua/connect.lua) through a TurnBatcher (./turn-batch.ts).
 * Every caller's snapshot is the one taken after its whole batch: consistent with the batch's
 * seq, which covers the caller's own change. A refusal's snapshot carries no ids (types.ts).
 */
import { TurnBatcher } from './turn-batch.js';
import type { ConnectResult, Snapshot } from './types.js';

/** The script's reply: outcomes (1 online, 0 counted, 2 refused), seq, count, cursor, ids. */
type ConnectReply = [number[], number, number, string, string[]];
export type RunConnect = (limit: number, max: number, pairs: string[]) => Promise<unknown>;

interface Pending { userId: string; username: string }

export function connectBatcher(run: RunConnect): TurnBatcher<Pending, ConnectResult> {
  return new TurnBatcher<Pending, ConnectResult>(async (key, items) => {
    const [limit, max] = key.split(':').map(Number);
    const [outcomes, seq, count, cursor, online] = (await run(limit, max, items.flatMap((p) => [p.userId, p.username]))) as ConnectReply;
    return outcomes.map((outcome): ConnectResult => {
      if (outcome === 2) return { wentOnline: false, refused: true, snapshot: { seq, online: [], onlineCount: count } };
      const snapshot: Snapshot = { seq, online, onlineCount: count };
      if (cursor !== '') snapshot.cursor = cursor;
      return { wentOnline: outcome === 1, refused: false, snapshot };
    });
  });
}

/** The batcher's key: pairs in one script call share the snapshot limit and the per-user limit. */
export const connectKey = (limit: number, max: number) => `${limit}:${max}`;
