/**
 * What the presence contract's tests share: recording events, waiting until every event
 * published so far arrived, and reading transitions and members back.
 */
import { expect } from 'vitest';
import type { PresenceEvent, RoomEvent } from '../../src/presence/types.js';
import { waitFor } from '../harness/wait.js';
import type { Store } from './presence-stores.js';


/** Every event `store` receives, in arrival order. */
export function record(store: Store): PresenceEvent[] {
  const events: PresenceEvent[] = [];
  store.onEvent((e) => events.push(e));
  return events;
}

let barriers = 0;

/**
 * Resolves once every event published before this call has reached `events`: it publishes
 * one more (a barrier user goes online) and waits for it, since delivery is in seq order.
 */
export async function drain(store: Store, events: PresenceEvent[]): Promise<void> {
  const id = `barrier-${++barriers}`;
  const { snapshot } = await store.connect(id, id, 0);
  await waitFor(`barrier event ${snapshot.seq}`, () => events.some((e) => e.seq >= snapshot.seq));
  // Delivered once each, in seq order, no gaps (seq starts over at 1 when the store was wiped).
  events.forEach((e, i) => i > 0 && e.seq !== 1 && expect(e.seq).toBe(events[i - 1].seq + 1));
}

export function sortById<T extends { userId: string }>(items: T[]): T[] {
  return [...items].sort((x, y) => x.userId.localeCompare(y.userId));
}

/** The user ids in `action`'s room, sorted (first page; tests stay under it). */
export async function memberIds(store: Store, action: string): Promise<string[]> {
  return (await store.members(action, undefined, 100)).users.map((u) => u.id).sort();
}

/** Every room event `store` receives for the rooms it watches, in arrival order. */
export function recordRooms(store: Store): RoomEvent[] {
  const events: RoomEvent[] = [];
  store.onRoomEvent((e) => events.push(e));
  return events;
}

/** `userId`'s joined/left transitions in `action`, in order. */
export function roomTransitions(events: RoomEvent[], action: string, userId: string): string[] {
  return events.filter((e) => e.action === action).flatMap((e) => e.changes.filter((c) => c.userId === userId).map((c) => c.status));
}

/** `status` transitions of `userId` seen in `events`, in order. */
export function transitions(events: PresenceEvent[], userId: string): string[] {
  return events.flatMap((e) => e.changes.filter((c) => c.userId === userId).map((c) => c.status));
}
