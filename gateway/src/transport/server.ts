/**
 * The uWebSockets.js server: WebSocket upgrade (the caller decides, before any socket
 * exists), socket events, and HTTP routes. Generic over the data the caller keeps per
 * socket (`T`): it knows no user, presence or action, only sockets, topics and requests.
 *
 * The upgrade follows uWebSockets.js's UpgradeAsync example: what is needed from `req` is
 * copied before the first await, `onAborted` is registered at once, and the upgrade runs
 * inside `cork`. A client that went away while `admit` ran gets `abandon(data)` instead.
 *
 * One deviation, for a bug in the pinned uWebSockets.js build (uWebSockets#1928, fixed
 * upstream by #1929): after `res.cork(() => res.upgrade())` from an async path, `cork()`
 * reads the HTTP response state out of memory the shrunk socket no longer owns; when small
 * allocations made during the `open` handler (topic subscriptions) reuse it, the bits can
 * say "Connection: close" and the fresh WebSocket is shut down without a close frame (the
 * client sees 1006, about 1 connection in 1,000, more in some runs). So `open` only records
 * the socket, and `opened` runs right after `res.cork()` returned, inside the WebSocket's own
 * `cork` (which has no such check): the same frames, the same single write.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { copyHeaders, guard, readBody, reply, requestIp, type ApiReply, type Guarded, type RouteRequest } from './http.js';
import type { LocalFanout, LocalSocket, SocketHandlers, UpgradeRequest } from './socket.js';
import { isStream, openStream, type StreamRoute } from './sse.js';
import { wireStreams } from './stream-routes.js';
import { StreamTopics, type StreamStatus } from './streams.js';
import type { Uws } from './uws.js';

/** HTTP request bodies larger than this get 413. */
export const MAX_BODY_BYTES = 64 * 1024;


export interface TransportOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  /** Peers whose X-Forwarded-For is believed. */
  trustedProxies: readonly string[];
  maxPayloadBytes: number;
  maxBackpressureBytes: number;
  idleTimeoutS: number;
  /** This node's id: streaming session ids start with it, so any node can forward a POST. */
  nodeId: string;
  /** ALLOWED_ORIGINS, for cross-origin streaming sessions (CORS); undefined: any. */
  allowedOrigins?: readonly string[];
  /** A streaming session this layer ended (4008) because its reader fell past maxBackpressureBytes (metrics). */
  onSlowConsumer?: () => void;
}

export type { RouteRequest };

/**
 * An HTTP route: gets what it needs from the request synchronously, answers later.
 * `maxBody` (bytes, default MAX_BODY_BYTES) bounds the body; past it `body()` rejects.
 */
export type Route = ((req: RouteRequest, body: () => Promise<Buffer>) => Promise<ApiReply> | ApiReply) & { maxBody?: number };

export interface Routes {
  get: Record<string, Route>;
  post: Record<string, Route>;
  put?: Record<string, Route>;
  patch?: Record<string, Route>;
  /** GET routes that may answer with a stream that stays open (Server-Sent Events: sse.ts). */
  streams?: Record<string, StreamRoute>;
  /** Fallback for other GET paths (static files); undefined means 404. */
  files?: (path: string, header: (name: string) => string) => ApiReply | undefined;
}

/**
 * uWebSockets.js user data. `upgrade` copies this object's properties (a shallow copy is
 * what `getUserData()` returns), so everything that changes lives in `life`, shared by both.
 */
interface Slot<T> { data: T; life: UwsSocket<T> }

/**
 * Our handle on one socket, and where it is in its life: created before the upgrade, given its
 * uWebSockets.js socket at `open`. One object per connection (it is also the Slot's `life`).
 */
class UwsSocket<T> implements LocalSocket {
  ws: WebSocket<Slot<T>> | undefined = undefined;
  constructor(private readonly streams: StreamTopics) {}
  state: 'upgrading' | 'open' | 'closed' = 'upgrading';
  isOpen(): boolean {
    return this.state === 'open';
  }
  send(text: string): boolean {
    return this.ws!.send(text, false) === 1;
  }
  subscribe(topic: string): void {
    this.ws!.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    this.ws!.unsubscribe(topic);
  }
  publishExceptSelf(topic: string, text: string): void {
    this.ws!.publish(topic, text, false);
    this.streams.publish(topic, text);
  }
  bufferedAmount(): number {
    return this.ws!.getBufferedAmount();
  }
  close(code: number, reason: string): void {
    this.ws!.end(code, reason);
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function upgradeHandler<T>(h: SocketHandlers<T>, log: Logger, trusted: readonly string[], streams: StreamTopics) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    // req is unusable after the first await: copy what is needed now.
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    const request: UpgradeRequest = {
      query: req.getQuery() ?? '',
      protocols: req.getHeader('sec-websocket-protocol'),
      origin: req.getHeader('origin'),
      ip: requestIp(res, req, trusted),
    };
    const g = guard(res);
    h.admit(request).then((result) => {
      if (!result.ok) {
        log.debug({ status: result.status, reason: result.reason, ip: request.ip }, 'upgrade refused');
        return reply(g, { status: result.status, body: `${result.reason}\n` });
      }
      if (g.aborted) return h.abandon(result.data);
      const slot: Slot<T> = { data: result.data, life: new UwsSocket<T>(streams) };
      res.cork(() => res.upgrade(slot, key, result.protocol, extensions, context));
      g.aborted = true;
      openUpgraded(slot, h);
    }).catch((err) => {
      log.error({ err }, 'admission failed');
      reply(g, { status: 500, body: 'internal error\n' });
    });
  };
}

/** Runs `opened` once the upgrade's cork is over (see the header); a socket closed meanwhile only gets `closed`. */
function openUpgraded<T>({ data, life }: Slot<T>, h: SocketHandlers<T>): void {
  if (life.state !== 'upgrading') return;
  const { ws } = life;
  if (!ws) {
    // uWebSockets.js did not open the socket (the connection broke during the upgrade).
    life.state = 'closed';
    return h.abandon(data);
  }
  life.state = 'open';
  ws.cork(() => h.opened(data, life));
}

export interface Transport<T> {
  fanout: LocalFanout;
  /**
   * `forward`: frames POSTed here for a streaming session another node holds (over the cluster
   * bus); that node's `deliverStream` takes them (stream-routes.ts).
   */
  listen(h: SocketHandlers<T>, routes: Routes, forward?: (id: string, key: string, frames: string[], close: boolean) => Promise<StreamStatus>): Promise<number>;
  deliverStream(id: string, key: string, frames: string[], close: boolean): StreamStatus;
  /** Open streaming sessions (the HTTP fallback). */
  streams(): number;
  /** Stop accepting new connections; open sockets stay. */
  stopListening(): void;
}

export function createTransport<T>(uws: Uws, config: TransportOptions, log: Logger): Transport<T> {
  const app: TemplatedApp = config.tls
    ? uws.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile })
    : uws.App();
  let listenSocket: us_listen_socket | undefined;
  // uWebSockets.js crashes the process (SIGSEGV) on a publish before any `ws` route exists; a node
  // hears other nodes' presence before it listens, and nobody here is subscribed yet anyway.
  let wired = false;
  const topics = new StreamTopics();
  const publishToSockets = (topic: string, text: string) => void (wired && app.publish(topic, text, false));
  const fanout: LocalFanout = {
    publish: (topic, text) => {
      publishToSockets(topic, text);
      topics.publish(topic, text);
    },
    subscribers: (topic) => (wired ? app.numSubscribers(topic) : 0) + topics.count(topic),
  };
  let streams: ReturnType<typeof wireStreams<T>> | undefined;

  function wireSockets(h: SocketHandlers<T>): void {
    wired = true;
    app.ws<Slot<T>>('/ws', {
      compression: uws.DISABLED,
      maxPayloadLength: config.maxPayloadBytes,
      idleTimeout: config.idleTimeoutS,
      sendPingsAutomatically: true,
      maxBackpressure: config.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      upgrade: upgradeHandler(h, log, config.trustedProxies, topics),
      open: (ws) => {
        ws.getUserData().life.ws = ws;
      },
      message: (ws, message, isBinary) => {
        const { data } = ws.getUserData();
        // The ArrayBuffer is only valid during this call: decode it now.
        if (isBinary) h.binary(data);
        else h.message(data, Buffer.from(message).toString('utf8'));
      },
      drain: (ws) => h.drained(ws.getUserData().data),
      close: (ws, code) => {
        const { data, life } = ws.getUserData();
        life.state = 'closed';
        h.closed(data, code);
      },
    });
  }

  /** What a route may read of a request, copied out of `req` (unusable after the handler returns). */
  function requestOf(res: HttpResponse, req: HttpRequest): RouteRequest {
    const header = copyHeaders(req);
    const params: string[] = [];
    for (let i = 0; req.getParameter(i) !== undefined && i < 8; i += 1) params.push(safeDecode(req.getParameter(i) ?? ''));
    return { query: req.getQuery() ?? '', header, param: (i) => params[i] ?? '', ip: requestIp(res, req, config.trustedProxies) };
  }

  const failed = (g: Guarded) => (err: unknown) => {
    log.error({ err }, 'route failed');
    reply(g, { status: 500, body: { error: 'internal', message: 'unexpected server error' } });
  };

  function wireRoutes(routes: Routes): void {
    const stream = (route: StreamRoute) => (res: HttpResponse, req: HttpRequest) => {
      const request = requestOf(res, req);
      const g = guard(res);
      Promise.resolve()
        .then(() => route(request))
        .then((r) => (isStream(r) ? openStream(g, r) : reply(g, r)))
        .catch(failed(g));
    };
    const serve = (route: Route, hasBody: boolean) => (res: HttpResponse, req: HttpRequest) => {
      const request = requestOf(res, req);
      const g: Guarded = guard(res);
      // uWebSockets.js drops body chunks that arrive before onData is attached: attach now.
      const pending = hasBody ? readBody(g, route.maxBody ?? MAX_BODY_BYTES) : Promise.resolve(Buffer.alloc(0));
      pending.catch(() => {});
      const body = () => pending;
      Promise.resolve()
        .then(() => route(request, body))
        .then((r) => reply(g, r))
        .catch(failed(g));
    };
    for (const [path, route] of Object.entries(routes.get)) app.get(path, serve(route, false));
    for (const [path, route] of Object.entries(routes.streams ?? {})) app.get(path, stream(route));
    for (const [path, route] of Object.entries(routes.post)) app.post(path, serve(route, true));
    for (const [path, route] of Object.entries(routes.put ?? {})) app.put(path, serve(route, true));
    for (const [path, route] of Object.entries(routes.patch ?? {})) app.patch(path, serve(route, true));
    app.any('/*', (res, req) => {
      const method = req.getMethod();
      const path = req.getUrl();
      const file = method === 'get' || method === 'head' ? routes.files?.(path, copyHeaders(req)) : undefined;
      const r = file ?? { status: 404, body: { error: 'not_found', message: `no route ${method.toUpperCase()} ${path}` } };
      reply({ res, aborted: false }, r);
    });
  }

  return {
    fanout,
    listen(h, routes, forward) {
      wireSockets(h);
      streams = wireStreams(app, h, { ...config, topics, publishToSockets, forward }, log);
      wireRoutes(routes);
      return new Promise((resolve, reject) => {
        app.listen(config.host, config.port, (socket) => {
          if (!socket) return reject(new Error(`could not listen on ${config.host}:${config.port}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
    },
    deliverStream(id, key, frames, close) {
      return streams?.deliver(id, key, frames, close) ?? 'unknown';
    },
    streams: () => streams?.count() ?? 0,
    stopListening() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
  };
}

