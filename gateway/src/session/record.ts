/**
 * The writable side of a Connection. session/ is its one writer: admission creates it,
 * commands, membership, lifecycle, sweep and steering change it; every other module gets the
 * read-only `Connection` view (connection.ts) and asks. The hub holds records (it is generic
 * over them), so session code finds its records again without casts.
 */
import { NO_ACTIONS, type Connection } from '../connection.js';

type Writable<T> = { -readonly [K in keyof T]: T[K] };

export interface ConnectionRecord extends Writable<Omit<Connection, 'actions'>> {
  actions: Set<string>;
}

/** `rec`'s own Set of actions, allocated at its first join. */
export function ownActions(rec: ConnectionRecord): Set<string> {
  if (rec.actions === NO_ACTIONS) rec.actions = new Set();
  return rec.actions;
}
