/**
 * The event stream as backends see it: what the webhook POSTs (and what an operator's tail
 * shows). Types only; the gateway's one encoder and decoder are gateway/src/events/payloads.ts.
 */

/**
 * One entry of the event stream (`P events`): every online/offline and joined/left transition,
 * appended by the same atomic step that made it (so the stream has no phantom and no missing
 * transition: replayed from its start it rebuilds the online set and the memberships).
 */
export interface ClusterEvent {
  /** The stream entry id (`<ms>-<n>`, growing): the event id to deduplicate on. */
  id: string;
  type: 'online' | 'offline' | 'joined' | 'left';
  userId: string;
  username: string;
  /** joined / left only. */
  action?: string;
  /** The node whose connection made the change (for `node_lost`: the dead node). */
  node: string;
  reason: 'connect' | 'disconnect' | 'join' | 'leave' | 'node_lost' | 'sync' | 'repair';
  ts: number;
  /** The presence seq (online/offline) or the room seq (joined/left) it was published with. */
  seq: number;
}

/** Entries that can no longer be delivered: trimmed (`after` < id <= `through`), or the stream was recreated. */
export interface EventGapItem { id: string; type: 'gap'; reason: 'trimmed' | 'reset'; after: string; through: string }

/** One item of a webhook batch. */
export type WebhookItem = ClusterEvent | EventGapItem;

/** The body of a webhook POST, signed in `X-Gateway-Signature` (docs/SECURITY.md). */
export interface WebhookBody { events: WebhookItem[] }
