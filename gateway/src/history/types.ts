/** How much of an action's past is kept: at most `count` messages, none older than `ageMs`. */
export interface HistoryPolicy { count: number; ageMs: number }

/** A message as kept in history: its offset and the exact frame members received. */
export interface StoredMessage { offset: string; frame: string }

/**
 * Recent messages of actions with a history policy, in Redis Streams (or in memory).
 *
 * Contract:
 * - `publish` appends the message and publishes it to every node (this one included) in
 *   one atomic step, so the order of the history is the order every member receives, and
 *   each delivered frame carries its `offset`.
 * - `since(offset)` returns the messages after `offset`, oldest first; `recovered` is false
 *   when `offset` is no longer in the history (trimmed by count or age, or never existed).
 * - Offsets are Redis stream ids `<ms>-<seq>`: they grow with every message of an action.
 */
export interface HistoryStore {
  /** `head` is the frame without its closing brace; the store appends `"offset"` and `"ts"`. */
  publish(action: string, policy: HistoryPolicy, head: string, ts: number): Promise<StoredMessage>;
  since(action: string, offset: string, limit: number): Promise<{ recovered: boolean; messages: StoredMessage[] }>;
  last(action: string, n: number): Promise<StoredMessage[]>;
}

/** The frame a member receives: `head` + offset + ts (ts last, as on every message frame). */
export function frameOf(head: string, offset: string, ts: number): string {
  return `${head},"offset":"${offset}","ts":${ts}}`;
}

/** Compare two offsets `<ms>-<seq>`: negative when a < b. */
export function compareOffsets(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}

/**
 * The offset at the end of a relayed frame, or undefined for frames without one. Looks only
 * at the frame's tail (where frameOf puts it), so frames without history cost a short scan.
 */
export function offsetOf(frame: string): string | undefined {
  const tail = frame.slice(-96);
  const at = tail.lastIndexOf('"offset":"');
  if (at < 0) return undefined;
  const offset = tail.slice(at + 10, tail.indexOf('"', at + 10));
  return /^\d+-\d+$/.test(offset) ? offset : undefined;
}
