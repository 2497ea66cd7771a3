/**
 * Direct conversations: the user-limited action `dm#<idA>,<idB>` (only the two users listed
 * after `#` may join it, whatever the namespace says). The two ids are sorted (JavaScript's
 * default string order), so both users name the same action. No DOM.
 */
const PREFIX = 'dm#';

/** The action of the direct conversation between `me` and `other`. */
export function directAction(me: string, other: string): string {
  return `${PREFIX}${[me, other].sort().join(',')}`;
}

/** The other user of `action` when it is a direct conversation of `me`, else undefined. */
export function directPeer(action: string, me: string): string | undefined {
  if (!action.startsWith(PREFIX)) return undefined;
  const ids = action.slice(PREFIX.length).split(',');
  if (ids.length !== 2 || !ids.includes(me) || action !== directAction(ids[0], ids[1])) return undefined;
  return ids[0] === me ? ids[1] : ids[0];
}
