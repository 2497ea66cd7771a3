/**
 * Node-to-node messages: everything one gateway tells the others, on the broker's system topics
 * (`$`-names, which no action can take). One registry: each topic, the shape of what it carries
 * (a zod schema, so a message from a node of another version that does not fit is dropped and
 * logged, never half-applied), one encoder and one decoder.
 *
 * Delivery is the broker's pub/sub: at most once per node, in order per sender. Commands are
 * idempotent, so a caller that saw a node missing may send again.
 */
import { z } from 'zod';
import { ACTION_NAME, HTTP_SEND_MAX_FRAMES } from '../../../shared/protocol.js';

const userInfo = z.object({ id: z.string(), username: z.string(), displayName: z.string(), avatarUrl: z.string().optional() });

const controlCommand = z.discriminatedUnion('op', [
  /** Close the user's connections (or one of them); `revokedAt`: their tokens issued at or before this second are refused. */
  z.object({
    op: z.literal('disconnect'), userId: z.string(), connectionId: z.string().optional(), code: z.number().int(), reason: z.string(),
    revokedAt: z.number().optional(),
  }),
  /** Remove the user's connections from `action` (each gets a `left` frame). */
  z.object({ op: z.literal('unsubscribe'), userId: z.string(), action: z.string().regex(ACTION_NAME), reason: z.string() }),
  /** The user's profile changed: connections stamp the new name, watchers get a `profile` frame. */
  z.object({ op: z.literal('profile'), user: userInfo }),
]);

/** One node's figures, every STATS_INTERVAL_MS (node/stats.ts): what the operator page charts. */
const nodeSample = z.object({
  node: z.string(), at: z.number(), connections: z.number(), users: z.number(), rssBytes: z.number(), heapBytes: z.number(),
  /** Frames received from clients, and action messages fanned out here (per message, not per socket), per second. */
  inPerS: z.number(), outPerS: z.number(),
});

/** Read-only questions to every node (node/queries.ts). */
const question = z.discriminatedUnion('op', [
  /** The actions each of these users' open connections on the node have joined. */
  z.object({ op: z.literal('user-actions'), userIds: z.array(z.string()).max(1000) }),
]);

/** What the holding node did with POSTed frames (the transport's StreamStatus; app.ts wires the two, so they cannot drift). */
const streamStatus = z.enum(['ok', 'unknown', 'refused']);

const registry = {
  /** A command for every node; `id` set when the sender waits for replies. */
  $control: z.object({ id: z.string().optional(), cmd: controlCommand }),
  /** A node's answer to a `$control` with an id: how many of its connections the command affected. */
  '$control-reply': z.object({ id: z.string(), node: z.string(), affected: z.number() }),
  /**
   * Frames POSTed to another node for a streaming session this node holds (the HTTP fallback),
   * in the order they were POSTed; `close`: the client ended the session. Sent on the holding
   * node's own topic (streamTopic), so only that node receives them; answered on the sender's.
   */
  $stream: z.object({
    rid: z.string().max(200), from: z.string().max(200), id: z.string().max(200), key: z.string().max(64), frames: z.array(z.string()).max(HTTP_SEND_MAX_FRAMES),
    close: z.boolean(),
  }),
  /** What the holding node did with a `$stream` request (node/stream-relay.ts). */
  '$stream-reply': z.object({ rid: z.string().max(200), status: streamStatus }),
  /** A node's figures, broadcast by every node; every node keeps the last minutes of them. */
  $stats: nodeSample,
  /** A question every node answers with a `$query-reply`. */
  $query: z.object({ id: z.string(), q: question }),
  /** A node's answer: user id -> actions (at most 100 each). */
  '$query-reply': z.object({ id: z.string(), node: z.string(), actions: z.record(z.string(), z.array(z.string()).max(100)) }),
};

/** Kinds sent on one node's own topic (`<kind>:<nodeId>`), not to every node. */
export const NODE_TOPICS: ReadonlySet<string> = new Set(['$stream', '$stream-reply']);

/** The topic of `$stream` messages for the node `nodeId`, and of the answers to the node that asked. */
export const streamTopic = (nodeId: string) => `$stream:${nodeId}`;
export const streamReplyTopic = (nodeId: string) => `$stream-reply:${nodeId}`;
export type StreamStatus = z.infer<typeof streamStatus>;

export type SystemTopic = keyof typeof registry;
export type SystemMessage<T extends SystemTopic> = z.infer<(typeof registry)[T]>;
export type ControlCommand = z.infer<typeof controlCommand>;
export type NodeSample = z.infer<typeof nodeSample>;
export type ClusterQuestion = z.infer<typeof question>;

export const SYSTEM_TOPICS = Object.keys(registry) as SystemTopic[];

export function encodeSystem<T extends SystemTopic>(_topic: T, msg: SystemMessage<T>): string {
  return JSON.stringify(msg);
}

/** The message on `topic`, or undefined when `payload` is not one (never throws). */
export function decodeSystem<T extends SystemTopic>(topic: T, payload: string): SystemMessage<T> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(payload);
  } catch {
    return undefined;
  }
  const parsed = registry[topic].safeParse(raw);
  return parsed.success ? (parsed.data as SystemMessage<T>) : undefined;
}
