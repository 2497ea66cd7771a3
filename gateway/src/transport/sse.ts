/**
 * Streaming HTTP responses (Server-Sent Events): a route that answers with a `StreamReply` keeps
 * its response open and sends chunks as it likes until it ends it or the client goes away.
 *
 * Contract of an EventStream:
 * - `send` writes at once (corked). A client that has not taken what was sent before (uWebSockets.js
 *   reported backpressure and the socket has not drained since) is not buffered for: the stream is
 *   ended instead and `send` returns false. So a stream costs at most about one send of memory
 *   (an EventSource reconnects by itself, and its route sends a fresh snapshot).
 * - `onClose` callbacks run once, when the route ends the stream or the client goes away;
 *   registered after that, a callback runs at once.
 */
import { statusLine, type ApiReply, type Guarded, type RouteRequest } from './http.js';

export interface EventStream {
  readonly open: boolean;
  send(text: string): boolean;
  end(): void;
  onClose(cb: () => void): void;
}

export interface StreamReply {
  status: 200;
  headers: Record<string, string>;
  /** Called once the status and headers are written; keep `s` and send on it. */
  stream(s: EventStream): void;
}

/** A GET route that answers with a stream, or with a plain reply (a refusal). */
export type StreamRoute = (req: RouteRequest) => Promise<ApiReply | StreamReply>;

export function isStream(r: ApiReply | StreamReply): r is StreamReply {
  return typeof (r as StreamReply).stream === 'function';
}

/** Writes the status and headers and hands the open stream to the route; nothing when the client already left. */
export function openStream(g: Guarded, r: StreamReply): void {
  if (g.aborted) return;
  const { res } = g;
  let open = true;
  let backlog = false;
  const closers: Array<() => void> = [];
  const closed = () => {
    if (!open) return;
    open = false;
    g.aborted = true;
    for (const cb of closers.splice(0)) cb();
  };
  g.onAbort = closed;
  res.onWritable(() => {
    backlog = false;
    return true;
  });
  const stream: EventStream = {
    get open() {
      return open;
    },
    send(text) {
      if (!open) return false;
      if (backlog) {
        stream.end();
        return false;
      }
      res.cork(() => {
        backlog = !res.write(text);
      });
      return true;
    },
    end() {
      if (!open) return;
      res.cork(() => res.end());
      closed();
    },
    onClose(cb) {
      if (open) closers.push(cb);
      else cb();
    },
  };
  res.cork(() => {
    res.writeStatus(statusLine(r.status));
    for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
    // The first chunk sends the headers (chunked encoding); an SSE comment line is ignored by clients.
    backlog = !res.write(': open\n\n');
  });
  r.stream(stream);
}
