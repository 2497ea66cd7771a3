/**
 * Directory search as clients see it: matches from the directory, each with its online flag
 * from presence, in one store round trip (SMISMEMBER on Redis).
 */
import type { PresenceStore } from '../presence/types.js';
import { profileOf, type UserDirectory } from './types.js';

export async function searchPeople(users: UserDirectory, presence: Pick<PresenceStore, 'isOnline'>, q: string, limit: number) {
  const found = users.search(q, limit);
  const online = await presence.isOnline(found.map((u) => u.id));
  return found.map((u, i) => ({ ...profileOf(u), online: online[i] }));
}
