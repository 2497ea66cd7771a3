/**
 * The uWebSockets.js server: WebSocket upgrade (authentication before any socket exists),
 * socket events, and HTTP routes. Knows nothing of presence or actions: it calls the
 * gateway's handlers and offers the LocalFanout/LocalSocket handles over its topics.
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { Config } from '../config.js';
import type { Connection, LocalFanout, LocalSocket } from '../connection.js';
import type { Logger } from '../log.js';
import type { Snapshot } from '../presence/types.js';
import type { Admitted, Refused, UpgradeRequest } from '../admission.js';
import { clientIp, guard, readBody, reply, type ApiReply, type Guarded } from './http.js';

/** HTTP request bodies larger than this get 413. */
export const MAX_BODY_BYTES = 64 * 1024;
import type { Uws } from './uws.js';

interface SocketData {
  conn: Connection;
  /** Needed only for the welcome: released at open (it can hold a thousand ids per socket). */
  snapshot?: Snapshot;
}

export interface SocketHandlers {
  admit(req: UpgradeRequest): Promise<Admitted | Refused>;
  /** The client went away between admission and upgrade: undo the admission. */
  abandon(conn: Connection): void;
  opened(conn: Connection, snapshot: Snapshot): void;
  message(conn: Connection, text: string): void;
  binary(conn: Connection): void;
  drained(conn: Connection): void;
  closed(conn: Connection, code: number): void;
}

export interface RouteRequest {
  query: string;
  header: (name: string) => string;
  ip: string;
  /** The i-th `:param` of the route pattern, URL-decoded. */
  param: (i: number) => string;
}

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
  /** Fallback for other GET paths (static files); undefined means 404. */
  files?: (path: string, header: (name: string) => string) => ApiReply | undefined;
}

class UwsSocket implements LocalSocket {
  constructor(private readonly ws: WebSocket<SocketData>) {}
  send(text: string): boolean {
    return this.ws.send(text, false) === 1;
  }
  subscribe(topic: string): void {
    this.ws.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    this.ws.unsubscribe(topic);
  }
  publishExceptSelf(topic: string, text: string): void {
    this.ws.publish(topic, text, false);
  }
  bufferedAmount(): number {
    return this.ws.getBufferedAmount();
  }
  close(code: number, reason: string): void {
    this.ws.end(code, reason);
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Request headers copied out of `req` (usable after the handler returns, unlike `req`). */
function copyHeaders(req: HttpRequest): (name: string) => string {
  const headers = new Map<string, string>();
  req.forEach((k, v) => headers.set(k, v));
  return (name) => headers.get(name) ?? '';
}

function remoteIp(res: HttpResponse): string {
  return Buffer.from(res.getRemoteAddressAsText()).toString();
}

function upgradeHandler(h: SocketHandlers, log: Logger, trusted: readonly string[]) {
  return (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
    // req is unusable after the first await: copy what is needed now.
    const key = req.getHeader('sec-websocket-key');
    const extensions = req.getHeader('sec-websocket-extensions');
    const request: UpgradeRequest = {
      query: req.getQuery() ?? '',
      protocols: req.getHeader('sec-websocket-protocol'),
      origin: req.getHeader('origin'),
      ip: clientIp(remoteIp(res), req.getHeader('x-forwarded-for'), trusted),
    };
    const g = guard(res);
    h.admit(request).then((result) => {
      if (!result.ok) {
        log.debug({ status: result.status, reason: result.reason, ip: request.ip }, 'upgrade refused');
        return reply(g, { status: result.status, body: `${result.reason}\n` });
      }
      if (g.aborted) return h.abandon(result.conn);
      const data: SocketData = { conn: result.conn, snapshot: result.snapshot };
      res.cork(() => res.upgrade(data, key, result.protocol, extensions, context));
      g.aborted = true;
    }).catch((err) => {
      log.error({ err }, 'admission failed');
      reply(g, { status: 500, body: 'internal error\n' });
    });
  };
}

export interface Transport {
  fanout: LocalFanout;
  listen(h: SocketHandlers, routes: Routes): Promise<number>;
  /** Stop accepting new connections; open sockets stay. */
  stopListening(): void;
}

export function createTransport(uws: Uws, config: Pick<Config, 'host' | 'port' | 'ws' | 'tls' | 'trustedProxies'>, log: Logger): Transport {
  const app: TemplatedApp = config.tls
    ? uws.SSLApp({ cert_file_name: config.tls.certFile, key_file_name: config.tls.keyFile })
    : uws.App();
  let listenSocket: us_listen_socket | undefined;
  const fanout: LocalFanout = {
    publish: (topic, text) => void app.publish(topic, text, false),
    subscribers: (topic) => app.numSubscribers(topic),
  };

  function wireSockets(h: SocketHandlers): void {
    app.ws<SocketData>('/ws', {
      compression: uws.DISABLED,
      maxPayloadLength: config.ws.maxPayloadBytes,
      idleTimeout: config.ws.idleTimeoutS,
      sendPingsAutomatically: true,
      maxBackpressure: config.ws.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      upgrade: upgradeHandler(h, log, config.trustedProxies),
      open: (ws) => {
        const data = ws.getUserData();
        const { conn, snapshot } = data;
        data.snapshot = undefined;
        conn.socket = new UwsSocket(ws);
        h.opened(conn, snapshot!);
      },
      message: (ws, message, isBinary) => {
        const { conn } = ws.getUserData();
        // The ArrayBuffer is only valid during this call: decode it now.
        if (isBinary) h.binary(conn);
        else h.message(conn, Buffer.from(message).toString('utf8'));
      },
      drain: (ws) => h.drained(ws.getUserData().conn),
      close: (ws, code) => {
        const { conn } = ws.getUserData();
        conn.closed = true;
        h.closed(conn, code);
      },
    });
  }

  function wireRoutes(routes: Routes): void {
    const serve = (route: Route, hasBody: boolean) => (res: HttpResponse, req: HttpRequest) => {
      const header = copyHeaders(req);
      const params: string[] = [];
      for (let i = 0; req.getParameter(i) !== undefined && i < 8; i += 1) params.push(safeDecode(req.getParameter(i) ?? ''));
      const request: RouteRequest = {
        query: req.getQuery() ?? '', header, param: (i) => params[i] ?? '',
        ip: clientIp(remoteIp(res), header('x-forwarded-for'), config.trustedProxies),
      };
      const g: Guarded = guard(res);
      // uWebSockets.js drops body chunks that arrive before onData is attached: attach now.
      const pending = hasBody ? readBody(g, route.maxBody ?? MAX_BODY_BYTES) : Promise.resolve(Buffer.alloc(0));
      pending.catch(() => {});
      const body = () => pending;
      Promise.resolve()
        .then(() => route(request, body))
        .then((r) => reply(g, r))
        .catch((err) => {
          log.error({ err }, 'route failed');
          reply(g, { status: 500, body: { error: 'internal', message: 'unexpected server error' } });
        });
    };
    for (const [path, route] of Object.entries(routes.get)) app.get(path, serve(route, false));
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
    listen(h, routes) {
      wireSockets(h);
      wireRoutes(routes);
      return new Promise((resolve, reject) => {
        app.listen(config.host, config.port, (socket) => {
          if (!socket) return reject(new Error(`could not listen on ${config.host}:${config.port}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
    },
    stopListening() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = undefined;
    },
  };
}

