/**
 * The event stream's payloads, both ends: a stream entry read back as a ClusterEvent (the
 * presence scripts write it: presence/lua/common.lua), and the webhook body built from a batch.
 * Their shapes are shared/events.ts.
 */
import type { ClusterEvent, WebhookBody, WebhookItem } from '../../../shared/events.js';
import type { EventBatch } from './types.js';

const TYPES = new Set(['online', 'offline', 'joined', 'left']);
const REASONS = new Set(['connect', 'disconnect', 'join', 'leave', 'node_lost', 'sync', 'repair']);

/** A stream entry's fields (flat name/value list) as an event; undefined for anything else. */
export function eventOf(id: string, fields: string[]): ClusterEvent | undefined {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
  if (!TYPES.has(f.type) || !REASONS.has(f.reason) || f.userId === undefined) return undefined;
  const event: ClusterEvent = {
    id, type: f.type as ClusterEvent['type'], userId: f.userId, username: f.username ?? f.userId,
    node: f.node ?? '', reason: f.reason as ClusterEvent['reason'], ts: Number(f.ts), seq: Number(f.seq),
  };
  if (f.action !== undefined) event.action = f.action;
  return event;
}

/** What a batch sends: the gap first (it happened before the batch's entries), then the wanted events. */
export function itemsOf(batch: EventBatch, types?: ReadonlySet<string>): WebhookItem[] {
  const items: WebhookItem[] = [];
  if (batch.gap) items.push({ id: batch.gap.through, type: 'gap', ...batch.gap });
  for (const e of batch.events) if (!types || types.has(e.type)) items.push(e);
  return items;
}

/** The body of a webhook POST (signed as these exact bytes). */
export function webhookBody(items: WebhookItem[]): string {
  return JSON.stringify({ events: items } satisfies WebhookBody);
}
