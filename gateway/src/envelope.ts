/**
 * The one place that builds and reads action message frames (the `message` frame of
 * PROTOCOL.md). Everything else handles a frame as opaque text: the broker carries it,
 * history stores it, the hub fans it out.
 *
 * Layout, fixed so the two readers below never parse user data:
 *   {"type":"message","action":…,"from":…,"data":…,"ts":<ms>}                 live, no history
 *   {"type":"message","action":…,"from":…,"data":…,"ts":<ms>,"offset":"<id>"} with history
 * `ts` is stamped by the publishing node; `offset` is added by `withOffset` when the frame
 * leaves history or the broker with a stream position, never read back from a frame: the
 * broker hands positions next to the payload.
 */
import type { ActionMessage } from '../../shared/protocol.js';

export type MessageFields = Pick<ActionMessage, 'action' | 'from' | 'data' | 'ts'>;

/** The frame members receive, without an offset. */
export function messageFrame(m: MessageFields): string {
  return JSON.stringify({ type: 'message', action: m.action, from: m.from, data: m.data, ts: m.ts });
}

/** `frame` (built by messageFrame) with its stream offset as the last field. */
export function withOffset(frame: string, offset: string): string {
  return `${frame.slice(0, -1)},"offset":"${offset}"}`;
}

/** Longest tail that holds `"ts":<13 digits>,"offset":"<20>-<20>"}`. */
const TAIL = 80;

/** The `ts` a gateway stamped on a frame built here, read from the frame's tail only. */
export function stampedTs(frame: string): number | undefined {
  const tail = frame.slice(-TAIL);
  const at = tail.lastIndexOf('"ts":');
  if (at < 0) return undefined;
  const ts = Number.parseInt(tail.slice(at + 5, at + 5 + 16), 10);
  return Number.isFinite(ts) ? ts : undefined;
}

/** Stream offsets are Redis stream ids `<ms>-<seq>`; negative when a < b. */
export function compareOffsets(a: string, b: string): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  const am = Number(a.slice(0, i));
  const bm = Number(b.slice(0, j));
  return am !== bm ? am - bm : Number(a.slice(i + 1)) - Number(b.slice(j + 1));
}

/** The position before any message of a stream. */
export const ORIGIN = '0-0';
