/**
 * Decoding of client frames. Never throws: every failure becomes an error code
 * and a message that can be sent back to the client, with the request id when
 * one could be read. Only known fields are copied out (zod strips the rest), so
 * a `__proto__` or `from` key in a frame never reaches the gateway's objects.
 */
import { z } from 'zod';
import { ACTION_NAME, MAX_BATCHED_JOINS, type ClientMessage, type ErrorCode, type RequestId } from './protocol.js';

/** Deepest nesting accepted inside `data`; deeper values are refused, not truncated. */
export const MAX_DATA_DEPTH = 32;

const requestId = z.union([z.string().max(64), z.number().finite()]);
const action = z.string().regex(ACTION_NAME, 'action must be 1-128 characters of [A-Za-z0-9_.:-/@], optionally followed by #<user id>,<user id>...');
const userId = z.string().min(1).max(128);

/** A join's fields besides its type and id (also each entry of `joins`). */
const joinFields = {
  action, since: z.string().regex(/^\d{1,15}-\d{1,15}$/, 'since is an offset like 1700000000000-0').optional(),
  epoch: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'epoch is the value a join ack handed out').optional(),
  history: z.number().int().min(1).max(1000).optional(), token: z.string().min(1).max(8192).optional(),
};


const schemas = {
  join: z.object({ type: z.literal('join'), ...joinFields, id: requestId.optional() }),
  joins: z.object({ type: z.literal('joins'), joins: z.array(z.object(joinFields)).min(1).max(MAX_BATCHED_JOINS), id: requestId.optional() }),
  members: z.object({ type: z.literal('members'), action, cursor: z.string().regex(/^\d{1,20}(:\d{1,10})?$/, 'cursor is the value a previous page handed out').optional(), id: requestId.optional() }),
  leave: z.object({ type: z.literal('leave'), action, id: requestId.optional() }),
  publish: z.object({
    type: z.literal('publish'), action, data: z.unknown(), echo: z.boolean().optional(), id: requestId.optional(),
  }),
  ping: z.object({ type: z.literal('ping'), id: requestId.optional() }),
  search: z.object({
    type: z.literal('search'), q: z.string().max(100), limit: z.number().int().min(1).max(100).optional(),
    id: requestId.optional(),
  }),
  watch: z.object({
    type: z.literal('watch'), users: z.union([z.literal('*'), z.array(userId).max(1000)]), count: z.boolean().optional(), id: requestId.optional(),
  }),
  // Partitioned presence (Redis Cluster) walks its partitions: `<start>.<step>.<partition's cursor>`.
  online: z.object({ type: z.literal('online'), cursor: z.string().regex(/^(\d{1,4}\.\d{1,4}\.)?\d{1,20}(:\d{1,10})?$/, 'cursor is the value a previous page handed out').optional(), id: requestId.optional() }),
  users: z.object({ type: z.literal('users'), ids: z.array(userId).max(1000), id: requestId.optional() }),
  refresh: z.object({ type: z.literal('refresh'), token: z.string().min(1).max(8192), id: requestId.optional() }),
} satisfies Record<ClientMessage['type'], z.ZodType>;

export type Decoded =
  | { ok: true; msg: ClientMessage }
  | { ok: false; code: ErrorCode; message: string; id?: RequestId };

function readId(value: unknown): RequestId | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const id = (value as { id?: unknown }).id;
  const parsed = requestId.safeParse(id);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The `id` of a frame that will not be handled (refused by the rate limit), so the refusal can
 * carry it: a command with an id gets exactly one answer with that id. Only small frames are
 * parsed; a larger one is answered without its id.
 */
export function frameId(text: string, maxBytes = 4096): RequestId | undefined {
  if (text.length > maxBytes) return undefined;
  try {
    return readId(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Depth of a JSON value, stopping early once `limit` is passed. Iterative: no stack to overflow. */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

export function decodeClientMessage(text: string): Decoded {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_json', message: 'frame is not valid JSON' };
  }
  const id = readId(raw);
  const type = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as { type?: unknown }).type : undefined;
  if (typeof type !== 'string') {
    return { ok: false, code: 'bad_request', message: 'a message is a JSON object with a string "type"', id };
  }
  if (!Object.hasOwn(schemas, type)) {
    return { ok: false, code: 'unknown_type', message: `unknown message type "${type.slice(0, 32)}"`, id };
  }
  const parsed = schemas[type as ClientMessage['type']].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || 'message';
    return { ok: false, code: 'bad_request', message: `${type}: ${where}: ${issue?.message ?? 'invalid'}`, id };
  }
  const msg = parsed.data as ClientMessage;
  if (msg.type === 'publish') {
    if (msg.data === undefined) return { ok: false, code: 'bad_request', message: 'publish: data is required', id };
    if (jsonDepthExceeds(msg.data, MAX_DATA_DEPTH)) {
      return { ok: false, code: 'bad_request', message: `publish: data nests deeper than ${MAX_DATA_DEPTH}`, id };
    }
  }
  return { ok: true, msg };
}
