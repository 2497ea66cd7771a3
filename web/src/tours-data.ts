/**
 * The `live:tours` action's message, as examples/tours.mjs publishes it: the FULL state of
 * every tour in each message, so the last message alone (join with `history: 1`) is the
 * current state.
 *
 *   { "tours": [{ "id": "alps", "name": "Alps trek", "seats": 7, "capacity": 12 }, …], "at": 1700000000000 }
 *
 * Only the backend's word counts: `toursState` takes a message's state only when the gateway
 * stamped it `from: {system: true}` (the publish API or the Redis inbox). A user who can publish
 * to the action (a gateway without the `live` namespace's `publish: "backend"`) cannot fake it.
 *
 * No DOM. `parseTours` and `toursState` never throw: anything else is undefined (and ignored).
 */
import type { ActionMessage } from '../../shared/protocol.js';

export interface Tour { id: string; name: string; seats: number; capacity: number }
export interface ToursState { tours: Tour[]; at?: number }

export const TOURS_ACTION = 'live:tours';

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function parseTour(v: unknown): Tour | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const t = v as Record<string, unknown>;
  if (typeof t.id !== 'string' || !isCount(t.seats)) return undefined;
  const capacity = isCount(t.capacity) ? Math.max(t.capacity, t.seats) : t.seats;
  return { id: t.id, name: typeof t.name === 'string' && t.name ? t.name : t.id, seats: t.seats, capacity };
}

export function parseTours(data: unknown): ToursState | undefined {
  const list = (data as { tours?: unknown } | null)?.tours;
  if (!Array.isArray(list)) return undefined;
  const tours = list.map(parseTour);
  if (tours.some((t) => t === undefined)) return undefined;
  const at = (data as { at?: unknown }).at;
  return { tours: tours as Tour[], ...(typeof at === 'number' ? { at } : {}) };
}

/** The state a message carries when it is a backend's message on the tours action, else undefined. */
export function toursState(msg: Pick<ActionMessage, 'action' | 'from' | 'data'>): ToursState | undefined {
  if (msg.action !== TOURS_ACTION || !('system' in msg.from) || msg.from.system !== true) return undefined;
  return parseTours(msg.data);
}
