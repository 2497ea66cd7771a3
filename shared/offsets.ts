/**
 * Stream offsets: positions in an action's history, Redis stream ids `<ms>-<seq>` in decimal
 * without leading zeros. One comparison for the gateway (history feeds, broker twin, event
 * stream) and every client (the largest offset seen is the recovery position).
 */

/** The position before any message of a stream. */
export const ORIGIN = '0-0';

/**
 * Negative when `a` comes before `b`, 0 when equal, positive after. Exact for any number of
 * digits (compared as decimal strings, not as doubles, which lose precision past 2^53).
 */
export function compareOffsets(a: string, b: string): number {
  const i = a.indexOf('-');
  const j = b.indexOf('-');
  return compareDecimal(a.slice(0, i), b.slice(0, j)) || compareDecimal(a.slice(i + 1), b.slice(j + 1));
}

function compareDecimal(x: string, y: string): number {
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}
