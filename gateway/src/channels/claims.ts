/**
 * A token's `channels` claim, compiled once per connection: exact names in a Set, `prefix*`
 * globs as prefixes, any other glob in one regular expression. A join then costs a Set lookup
 * and a short scan of prefixes, not a pass over every pattern (measured: bench/load/channels.ts).
 */

import type { ChannelMatcher } from '../connection.js';


const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export function compileClaim(patterns: readonly string[]): ChannelMatcher {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const globs: string[] = [];
  for (const p of patterns) {
    const star = p.indexOf('*');
    if (star < 0) exact.add(p);
    else if (star === p.length - 1) prefixes.push(p.slice(0, -1));
    else globs.push(p.split('*').map(escape).join('.*'));
  }
  // A prefix that another one starts with adds nothing: keep the shortest ones only. Sorted,
  // every string that starts with a kept prefix follows it directly, so one comparison does.
  prefixes.sort();
  const short: string[] = [];
  for (const p of prefixes) if (short.length === 0 || !p.startsWith(short[short.length - 1])) short.push(p);
  const re = globs.length > 0 ? new RegExp(`^(?:${globs.join('|')})$`) : undefined;
  return {
    matches: (action) => exact.has(action) || short.some((p) => action.startsWith(p)) || (re?.test(action) ?? false),
  };
}
