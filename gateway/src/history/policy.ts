/**
 * HISTORY_ACTIONS: a comma-separated list of `pattern=count/age`, e.g. `news*=100/5m,tours=1/1h`.
 * `*` in a pattern matches any run of characters; the first matching entry wins. Age units:
 * ms, s, m, h, d. Off by default: actions without a matching pattern keep no history.
 */
import type { HistoryPolicy } from '../broker/types.js';

export interface HistoryRule { pattern: string; policy: HistoryPolicy; match: RegExp }

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parse the variable; throws an Error naming the bad entry. */
export function parseHistoryRules(text: string | undefined): HistoryRule[] {
  if (!text) return [];
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    const m = /^([A-Za-z0-9_.:\-/@*#]{1,256})=(\d{1,6})\/(\d{1,9})(ms|s|m|h|d)$/.exec(entry);
    if (!m) throw new Error(`"${entry}" is not pattern=count/age (e.g. news*=100/5m)`);
    const count = Number(m[2]);
    const ageMs = Number(m[3]) * UNITS[m[4]];
    if (count < 1 || count > 10_000) throw new Error(`"${entry}": count must be 1..10000`);
    if (ageMs < 1000) throw new Error(`"${entry}": age must be at least 1s`);
    const source = m[1].split('*').map((p) => p.replace(/[.:\-/@]/g, '\\$&')).join('.*');
    return { pattern: m[1], policy: { count, ageMs }, match: new RegExp(`^${source}$`) };
  });
}

export function policyFor(rules: readonly HistoryRule[], action: string): HistoryPolicy | undefined {
  return rules.find((r) => r.match.test(action))?.policy;
}
