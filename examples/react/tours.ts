/**
 * What examples/tours-panels.mjs publishes, one action per tour plus a feed of sales. Only the
 * backend's word counts: a message is taken only when the gateway stamped it
 * `from: {system: true}` (the publish API), so a user who can publish there cannot fake it.
 */
import type { ChannelMessage } from '@realtime-gateway/client';

export const TOURS = ['alps', 'fjords', 'sahara'] as const;
export const tourChannel = (id: string) => `live:tour-${id}`;
export const SALES_CHANNEL = 'live:tour-sales';

export interface Tour { id: string; name: string; seats: number; capacity: number; at: number }
export interface Sale { tour: string; name: string; sold: number; seats: number; at: number }

const fromBackend = (m: ChannelMessage) => 'system' in m.from && m.from.system === true;
const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

export function parseTour(m: ChannelMessage): Tour | undefined {
  const t = m.data as Partial<Tour> | null;
  if (!fromBackend(m) || typeof t?.id !== 'string' || !count(t.seats) || !count(t.capacity)) return undefined;
  return { id: t.id, name: typeof t.name === 'string' ? t.name : t.id, seats: t.seats, capacity: Math.max(t.capacity, t.seats), at: t.at ?? m.ts };
}

export function parseSale(m: ChannelMessage): Sale | undefined {
  const s = m.data as Partial<Sale> | null;
  if (!fromBackend(m) || typeof s?.tour !== 'string' || !count(s.sold) || !count(s.seats)) return undefined;
  return { tour: s.tour, name: typeof s.name === 'string' ? s.name : s.tour, sold: s.sold, seats: s.seats, at: s.at ?? m.ts };
}
