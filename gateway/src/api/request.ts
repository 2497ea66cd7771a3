/**
 * Reading an HTTP API request, the same way on every route: its bearer credential, the caller
 * it identifies, its JSON body, and the error reply that refuses it (codes from the one table
 * in shared/protocol.ts). Bad input is always a 4xx; only an unreachable key server is a 503.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, type ErrorCode } from '../../../shared/protocol.js';
import type { Authenticate, Session } from '../auth/sessions.js';
import type { z } from 'zod';
import { AuthError } from '../errors.js';
import { CursorError } from '../presence/types.js';
import type { ApiReply } from '../transport/http.js';
import type { RouteRequest } from '../transport/server.js';

/** Answers that carry a credential, a session or a user's data: never cached on the way. */
export const noStore = { 'cache-control': 'no-store' };

export function fail(status: number, code: ErrorCode, message: string = ErrorCodes[code]): ApiReply {
  return { status, body: { error: code, message } };
}

/** The credential of `Authorization: Bearer <credential>`, if that is the header's form. */
export function bearer(req: Pick<RouteRequest, 'header'>): string | undefined {
  return /^Bearer\s+(\S+)$/i.exec(req.header('authorization'))?.[1];
}

/** The caller's session, or the reply that refuses it (503 when the key server is down, else 401). */
export async function sessionOf(authenticate: Authenticate, req: Pick<RouteRequest, 'header'>): Promise<Session | ApiReply> {
  try {
    return await authenticate(bearer(req) ?? '');
  } catch (err) {
    if (err instanceof AuthError && (err.reason === 'timeout' || err.reason === 'unavailable')) return fail(503, 'unavailable');
    return { ...fail(401, 'unauthorized'), headers: { 'www-authenticate': 'Bearer' } };
  }
}

/** The parsed JSON body, or the reply that refuses it: 415 not JSON, 413 too large, 400 unparsable. */
export async function readJson(req: Pick<RouteRequest, 'header'>, body: () => Promise<Buffer>): Promise<{ json: unknown } | ApiReply> {
  if (!/^application\/json\b/i.test(req.header('content-type'))) return fail(415, 'bad_request', 'send application/json');
  let raw: Buffer;
  try {
    raw = await body();
  } catch {
    return fail(413, 'too_large');
  }
  try {
    return { json: JSON.parse(raw.toString('utf8')) };
  } catch {
    return fail(400, 'bad_json');
  }
}

/** A 400 naming the first field a schema refused. */
export function invalid(error: z.ZodError): ApiReply {
  const issue = error.issues[0];
  return fail(400, 'bad_request', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`);
}

/** Runs `read`, mapping a cursor this API did not hand out to 400 and a store failure to 503. */
export async function answer(read: () => Promise<unknown>): Promise<ApiReply> {
  try {
    return { status: 200, body: await read() };
  } catch (err) {
    if (err instanceof CursorError) return fail(400, 'bad_request', err.message);
    return fail(503, 'unavailable', (err as Error).message);
  }
}

/** Compares against every key in constant time per key (no early exit on a match). */
export function keyChecker(keys: readonly string[]): (presented: string) => boolean {
  const digest = (k: string) => createHash('sha256').update(k).digest();
  const known = keys.map(digest);
  return (presented) => {
    const d = digest(presented);
    let ok = false;
    for (const k of known) ok = timingSafeEqual(k, d) || ok;
    return ok;
  };
}

/**
 * The server API's guard: 404 while API_KEYS is unset (the API does not exist), 401 without a
 * known key; undefined lets the request through.
 */
export function apiKeyGate(apiKeys: readonly string[]): (req: Pick<RouteRequest, 'header'>) => ApiReply | undefined {
  const valid = keyChecker(apiKeys);
  return (req) => {
    if (apiKeys.length === 0) return fail(404, 'not_found', 'the server API is off: set API_KEYS');
    const key = bearer(req);
    if (!key || !valid(key)) return { ...fail(401, 'unauthorized', 'missing or unknown API key'), headers: { 'www-authenticate': 'Bearer' } };
    return undefined;
  };
}
