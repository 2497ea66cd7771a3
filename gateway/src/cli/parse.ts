/** Pure argument parsing shared by the command-line tools: no I/O, so it is unit tested. */

/** A bad command line: the tool prints the message and its usage, and exits 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
export const MAX_TTL_S = 365 * 86_400;

/** A token lifetime: `30s`, `15m`, `1h`, `7d` or plain seconds; 1 s .. 365 d. */
export function parseTtl(text: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNIT_SECONDS[m[2] || 's'] : NaN;
  if (!(seconds >= 1 && seconds <= MAX_TTL_S)) {
    throw new UsageError(`invalid ttl ${JSON.stringify(text)}: use 30s, 15m, 1h, 7d or seconds (at most 365d)`);
  }
  return seconds;
}

/** A whole number in min..max, for counts and limits given as `what`. */
export function parseCount(text: string, what: string, min: number, max: number): number {
  const value = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`${what} must be a whole number in ${min}..${max}`);
  return value;
}

/** Display name for the `index`th seeded user of `prefix`: `user`, 7 -> `User 7`. */
export function seedDisplayName(prefix: string, index: number): string {
  return `${prefix.charAt(0).toUpperCase()}${prefix.slice(1)} ${index}`;
}
