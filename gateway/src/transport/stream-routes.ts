/**
 * The HTTP routes of streaming sessions (streams.ts), on uWebSockets.js:
 *
 *   GET  /http/stream   Authorization: Bearer <token>       the session: an event stream
 *   POST /http/send     X-Stream-Id, X-Stream-Key; frames    client frames, one JSON per line, in order
 *   POST /http/close    X-Stream-Id, X-Stream-Key            the client ends the session (as a 1000 close)
 *
 * Admission is the WebSocket's (`admit` with the token as the `bearer` subprotocol pair): a
 * refusal is the same HTTP status, and nothing is counted. No token is ever read from a URL.
 *
 * A POST may reach any node (no sticky sessions): a session held here takes the frames at once
 * (204); one held elsewhere gets them through `forward` (the cluster bus), and the POST is
 * answered 202 once that node took them: so frames of consecutive POSTs are processed in order.
 * The frames are answered on the stream. The key proves the POST comes from the session's
 * client: a wrong key is 403, an unknown session 404, and nothing is done. POSTs are limited per
 * session (POSTS_PER_S, burst POST_BURST; 429, the client retries) and, for POSTs that name no
 * session or a wrong key, per client address (FAILURES_PER_S): many users behind one NAT share
 * an address, not a budget. A POST carries at most HTTP_SEND_MAX_FRAMES frames and 4 x
 * MAX_PAYLOAD_BYTES (413, none taken). POSTs waiting for another node's answer are bounded per
 * address (FORWARDS_PER_ADDRESS) and per node (FORWARDS_MAX), 429 past them: each holds its
 * frames and a bus round trip until the holder answers or the relay gives up, and a refusal is
 * counted only once that answer came, so without this bound one address could keep any number
 * waiting. An id that is not shaped like a session id is 404 at once, and never forwarded.
 */
import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { HTTP_SEND_MAX_FRAMES } from '../../../shared/protocol.js';
import { KeyedLimiter } from '../limits/buckets.js';
import type { Logger } from '../log.js';
import { copyHeaders, guard, readBody, reply, requestIp, statusLine, type Guarded } from './http.js';
import type { SocketHandlers, UpgradeRequest } from './socket.js';
import { KEEPALIVE_MS, StreamSocket, type StreamOptions, type StreamStatus } from './streams.js';

export interface StreamRouteOptions extends Omit<StreamOptions, 'topics'> {
  topics: StreamOptions['topics'];
  /** Ids are `<nodeId>:<random>`: the node a POST is forwarded to. */
  nodeId: string;
  trustedProxies: readonly string[];
  maxPayloadBytes: number;
  idleTimeoutS: number;
  /** ALLOWED_ORIGINS: cross-origin pages allowed (CORS); undefined: any. */
  allowedOrigins?: readonly string[];
  /** Frames (or the close) for a session another node holds, sent there over the cluster bus; resolves with what it did. */
  forward?(id: string, key: string, frames: string[], close: boolean): Promise<StreamStatus>;
}

/** POSTs per session and second, and the burst (a client sends one at a time, carrying what is queued). */
const POSTS_PER_S = 100;
const POST_BURST = 200;
/** POSTs naming no session here or a wrong key, per client address and second (burst FAILURE_BURST). */
const FAILURES_PER_S = 5;
const FAILURE_BURST = 50;
/** POSTs forwarded to another node and not answered yet, per client address and in all. */
export const FORWARDS_PER_ADDRESS = 16;
const FORWARDS_MAX = 1024;
/** A session id: the holding node's id (NODE_ID's alphabet), `:`, 12 random bytes in base64url. */
const SESSION_ID = /^[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_-]{16}$/;

interface Held<T> { socket: StreamSocket; data: T }

export function wireStreams<T>(app: TemplatedApp, h: SocketHandlers<T>, o: StreamRouteOptions, log: Logger) {
  const held = new Map<string, Held<T>>();
  const posts = new KeyedLimiter(POSTS_PER_S, POST_BURST);
  const failures = new KeyedLimiter(FAILURES_PER_S, FAILURE_BURST);
  const forwarding = new Map<string, number>();
  let forwards = 0;
  const ipOf = (res: HttpResponse, req: HttpRequest) => requestIp(res, req, o.trustedProxies);
  const cors = (origin: string): Record<string, string> => (origin && (!o.allowedOrigins || o.allowedOrigins.includes(origin))
    ? { 'access-control-allow-origin': origin, vary: 'origin' } : {});

  /** Frames (then the close, when asked) for a session held here: 'ok', 'unknown' (not here), or 'refused' (wrong key). */
  function deliver(id: string, key: string, frames: string[], close: boolean): StreamStatus {
    const s = held.get(id);
    if (!s || !s.socket.isOpen()) return 'unknown';
    if (!s.socket.owns(key)) return 'refused';
    s.socket.lastSeen = Date.now();
    for (const text of frames) {
      if (!s.socket.isOpen()) break;
      if (Buffer.byteLength(text) > o.maxPayloadBytes) s.socket.close(1009, 'frame too large');
      else h.message(s.data, text);
    }
    if (close) s.socket.close(1000, 'closed by the client');
    return 'ok';
  }

  function open(g: Guarded, data: T, origin: string): void {
    const id = `${o.nodeId}:${randomBytes(12).toString('base64url')}`;
    const socket = new StreamSocket(id, g.res, o, (code) => {
      held.delete(id);
      h.closed(data, code);
    });
    held.set(id, { socket, data });
    g.onAbort = () => socket.finish(1006);
    g.res.cork(() => {
      g.res.writeStatus(statusLine(200));
      for (const [k, v] of Object.entries({ 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no', ...cors(origin) })) g.res.writeHeader(k, v);
      g.res.write(`event: session\ndata: ${JSON.stringify({ id, key: socket.key })}\n\n`);
    });
    h.opened(data, socket);
  }

  app.get('/http/stream', (res, req) => {
    const get = copyHeaders(req);
    const auth = /^Bearer\s+(\S+)$/i.exec(get('authorization'));
    const request: UpgradeRequest = { query: '', protocols: auth ? `bearer, ${auth[1]}` : '', origin: get('origin'), ip: ipOf(res, req) };
    const g = guard(res);
    h.admit(request).then((result) => {
      if (!result.ok) return reply(g, { status: result.status, body: `${result.reason}\n`, headers: cors(request.origin) });
      if (g.aborted) return h.abandon(result.data);
      open(g, result.data, request.origin);
    }).catch((err) => {
      log.error({ err }, 'stream admission failed');
      reply(g, { status: 500, body: 'internal error\n' });
    });
  });

  const STATUS: Record<StreamStatus, number> = { ok: 204, refused: 403, unknown: 404 };

  /** Frames (or the close) for `id` from `ip`: taken here, or by the node holding it; the POST's status. */
  async function take(id: string, key: string, frames: string[], close: boolean, ip: string): Promise<number> {
    const here = deliver(id, key, frames, close);
    if (here !== 'unknown' || !o.forward || id.split(':', 1)[0] === o.nodeId) return STATUS[here];
    const mine = forwarding.get(ip) ?? 0;
    if (mine >= FORWARDS_PER_ADDRESS || forwards >= FORWARDS_MAX) return 429;
    forwarding.set(ip, mine + 1);
    forwards += 1;
    try {
      const there = await o.forward(id, key, frames, close);
      return there === 'ok' ? 202 : STATUS[there];
    } finally {
      forwards -= 1;
      const left = forwarding.get(ip)! - 1;
      if (left === 0) forwarding.delete(ip);
      else forwarding.set(ip, left);
    }
  }

  const post = (close: boolean) => (res: HttpResponse, req: HttpRequest) => {
    const get = copyHeaders(req);
    const [id, key, origin] = [get('x-stream-id'), get('x-stream-key'), get('origin')];
    const ip = ipOf(res, req);
    const g = guard(res);
    const body = readBody(g, o.maxPayloadBytes * 4);
    body.catch(() => {});
    const answer = (status: number, text = '') => reply(g, { status, body: text, headers: cors(origin) });
    if (!failures.available(ip)) return answer(429, 'too many refused requests from this address\n');
    if (!SESSION_ID.test(id)) {
      failures.take(ip);
      return answer(404, 'no such stream\n');
    }
    if (!posts.take(id)) return answer(429, 'too many requests for this stream; retry in a moment\n');
    body.then(async (buf) => {
      const frames = close ? [] : buf.toString('utf8').split('\n').filter((l) => l.length > 0);
      if (frames.length > HTTP_SEND_MAX_FRAMES) return answer(413, `at most ${HTTP_SEND_MAX_FRAMES} frames per POST\n`);
      const status = await take(id, key, frames, close, ip);
      if (status === 403 || status === 404) failures.take(ip);
      answer(status, status === 429 ? 'too many requests waiting for another node from this address; retry in a moment\n' : '');
    }, () => answer(413, 'too large\n')).catch((err) => {
      log.warn({ err: (err as Error).message }, 'stream frames not forwarded');
      answer(503, 'the cluster bus is unreachable\n');
    });
  };
  app.post('/http/send', post(false));
  app.post('/http/close', post(true));
  app.options('/http/*', (res, req) => {
    const origin = req.getHeader('origin');
    reply({ res, aborted: false }, {
      status: 204, body: '', headers: { ...cors(origin), 'access-control-allow-methods': 'GET, POST', 'access-control-allow-headers': 'authorization, content-type, x-stream-id, x-stream-key', 'access-control-max-age': '600' },
    });
  });

  // Streams whose client sent nothing (not even a ping) for the idle timeout are gone; the
  // others get a comment line when nothing was written for KEEPALIVE_MS.
  const idle = setInterval(() => {
    const now = Date.now();
    for (const { socket } of held.values()) {
      if (o.idleTimeoutS > 0 && socket.lastSeen < now - o.idleTimeoutS * 1000) socket.close(1001, 'idle');
      else if (socket.lastWrite < now - KEEPALIVE_MS) socket.write(':\n\n');
    }
  }, 5000);
  idle.unref();

  return {
    /** Frames (or the close) forwarded from another node: taken when the session is here with that key. */
    deliver,
    count: () => held.size,
  };
}
