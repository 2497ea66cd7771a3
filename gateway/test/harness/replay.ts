/**
 * What replaying an event stream from its start gives: the online set and each action's
 * members (actions without members left out), sorted, to compare with the store's own state.
 */
import type { ClusterEvent } from '../../src/events/types.js';

export function replay(events: ClusterEvent[]): { online: string[]; members: Record<string, string[]> } {
  const online = new Set<string>();
  const members = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.type === 'online') online.add(e.userId);
    if (e.type === 'offline') online.delete(e.userId);
    if (e.type === 'joined') members.set(e.action!, (members.get(e.action!) ?? new Set()).add(e.userId));
    if (e.type === 'left') members.get(e.action!)?.delete(e.userId);
  }
  const rooms = Object.fromEntries([...members].filter(([, s]) => s.size > 0).map(([a, s]) => [a, [...s].sort()]));
  return { online: [...online].sort(), members: rooms };
}
