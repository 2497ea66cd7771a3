/**
 * Publishing from a backend without a WebSocket:
 * - HTTP: `POST /api/publish` with `Authorization: Bearer <api key>` and `{"action","data"}`
 *   or `{"messages":[{"action","data"},…]}` (at most 100, published in order);
 * - Redis: see inbox.ts.
 * Messages are stamped `from: {"system": true}` and reach every member on every node.
 */
import { z } from 'zod';
import { ACTION_NAME } from '../../../shared/protocol.js';
import { jsonDepthExceeds, MAX_DATA_DEPTH } from '../../../shared/codec.js';
import { PublishTooLarge, type Publish } from '../node/publisher.js';
import { apiKeyGate, fail, readJson } from './request.js';
import type { Route } from '../transport/server.js';

const message = z.object({ action: z.string().regex(ACTION_NAME), data: z.unknown() })
  .refine((m) => m.data !== undefined, 'data is required')
  .refine((m) => !jsonDepthExceeds(m.data, MAX_DATA_DEPTH), `data nests deeper than ${MAX_DATA_DEPTH}`);
const body = z.union([z.object({ messages: z.array(message).min(1).max(100) }), message]);

export type SystemMessage = z.infer<typeof message>;

/** Parse a publish body (HTTP or inbox); never throws. */
export function parsePublishBody(raw: unknown): { ok: true; messages: SystemMessage[] } | { ok: false; message: string } {
  const parsed = body.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, message: `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}` };
  }
  return { ok: true, messages: 'messages' in parsed.data ? parsed.data.messages : [parsed.data] };
}

export function createPublishRoute(apiKeys: readonly string[], publish: Publish): Route {
  const gate = apiKeyGate(apiKeys);
  return async (req, readBody) => {
    const refused = gate(req);
    if (refused) return refused;
    const read = await readJson(req, readBody);
    if ('status' in read) return read;
    const parsed = parsePublishBody(read.json);
    if (!parsed.ok) return fail(400, 'bad_request', parsed.message);
    const results: Array<{ action: string; ts: number; offset?: string }> = [];
    for (const m of parsed.messages) {
      try {
        results.push({ action: m.action, ...(await publish({ action: m.action, from: { system: true }, data: m.data })) });
      } catch (err) {
        if (err instanceof PublishTooLarge) return { status: 413, body: { error: 'too_large', message: `${m.action}: ${err.message}`, published: results } };
        return { status: 503, body: { error: 'unavailable', message: (err as Error).message, published: results } };
      }
    }
    return { status: 200, body: { published: results } };
  };
}
