/**
 * Small helpers for uWebSockets.js HTTP responses. A response is valid only until it
 * is ended or aborted: every write goes through `reply`, which checks `aborted` and corks.
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';

/** What a route gets of its request: copied out before the handler returns (uWebSockets.js frees `req`). */
export interface RouteRequest {
  query: string;
  header: (name: string) => string;
  ip: string;
  /** The i-th `:param` of the route pattern, URL-decoded. */
  param: (i: number) => string;
}

export interface ApiReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 413: 'Payload Too Large', 415: 'Unsupported Media Type',
  429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

export interface Guarded {
  res: HttpResponse;
  aborted: boolean;
  /** Called when the client goes away (a streaming response's close: stream.ts). */
  onAbort?: () => void;
}

/** Register onAborted at once (required before any async work) and track it. */
export function guard(res: HttpResponse): Guarded {
  const g: Guarded = { res, aborted: false };
  res.onAborted(() => {
    g.aborted = true;
    g.onAbort?.();
  });
  return g;
}

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

/** Write a JSON (or raw string/Buffer) reply; a no-op once the client went away. */
export function reply(g: Guarded, r: ApiReply): void {
  if (g.aborted) return;
  const isRaw = typeof r.body === 'string' || Buffer.isBuffer(r.body);
  const body = isRaw ? (r.body as string | Buffer) : JSON.stringify(r.body);
  g.res.cork(() => {
    g.res.writeStatus(statusLine(r.status));
    if (!isRaw) g.res.writeHeader('content-type', 'application/json; charset=utf-8');
    for (const [k, v] of Object.entries(r.headers ?? {})) g.res.writeHeader(k, v);
    g.res.end(body);
  });
  g.aborted = true;
}

export class BodyTooLarge extends Error {}

/** Collect a request body up to `limit` bytes; rejects with BodyTooLarge past it. */
export function readBody(g: Guarded, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    g.res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > limit) {
        done = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        resolve(Buffer.concat(chunks));
      }
    });
  });
}

/**
 * The client's address: the socket peer, unless that peer is a trusted proxy; then the
 * right-most hop of X-Forwarded-For that is not itself a trusted proxy, reading every
 * X-Forwarded-For header line in order as one list (RFC 7230: repeated lines are one
 * comma-separated value). Hops left of it were written by the client and are not believed;
 * the right-most untrusted hop is the address the first trusted proxy saw.
 */
export function clientIp(peer: string, forwardedFor: string | readonly string[], trusted: readonly string[]): string {
  if (trusted.length === 0 || !trusted.includes(peer) || forwardedFor.length === 0) return peer;
  const hops = (typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(',')).split(',').map((h) => h.trim()).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i -= 1) if (!trusted.includes(hops[i])) return hops[i].slice(0, 64);
  return peer;
}

/** Every X-Forwarded-For line of a request, in order (uWebSockets.js `getHeader` returns only the first). */
export function forwardedFor(each: (visit: (key: string, value: string) => void) => void): string[] {
  const lines: string[] = [];
  each((key, value) => {
    if (key === 'x-forwarded-for') lines.push(value);
  });
  return lines;
}

/** Request headers copied out of `req` (usable after the handler returns, unlike `req`). */
export function copyHeaders(req: HttpRequest): (name: string) => string {
  const headers = new Map<string, string>();
  req.forEach((k, v) => headers.set(k, v));
  return (name) => headers.get(name) ?? '';
}

/** The client's address of a request: the socket peer, or what a trusted proxy reported (clientIp). Read it before the handler returns. */
export function requestIp(res: HttpResponse, req: HttpRequest, trusted: readonly string[]): string {
  const peer = Buffer.from(res.getRemoteAddressAsText()).toString();
  return clientIp(peer, trusted.length > 0 ? forwardedFor((visit) => req.forEach(visit)) : [], trusted);
}
