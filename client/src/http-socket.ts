/**
 * The HTTP streaming transport, behind the WebSocket API the Link uses (SocketLike), for
 * networks that do not let a WebSocket through (PROTOCOL.md, "HTTP fallback").
 *
 * - `GET <base>/http/stream` with `Authorization: Bearer <token>` (never in the URL): an event
 *   stream; `event: session` gives the id and key of the session, each `data:` event is one
 *   server frame, `event: close` the close code; the socket is open once the answer is 200;
 * - frames sent are POSTed to `<base>/http/send`, one POST at a time carrying what is queued (one
 *   frame per line, at most POST_FRAMES frames and about POST_BYTES), so they are processed in
 *   order whichever node takes the POST; a POST refused for now (429) is sent again after a second;
 * - `close()` POSTs `/http/close` (the server ends the session as for a 1000 close) and drops
 *   the stream. A refused stream (401, 429, 503…) or one that ends without `event: close` is a
 *   close with 1006, as a refused or broken WebSocket looks to a browser.
 * Needs `fetch` with a streamed body (browsers, Web Workers, Node 18+; not React Native, which
 * has WebSockets).
 */
import { HTTP_SEND_MAX_FRAMES } from '../../shared/protocol.js';
import type { SocketLike, WebSocketConstructor } from './link.js';

/** `ws(s)://host/path/ws` → `http(s)://host/path`: where the /http/* routes are. */
export function httpBase(url: string): string {
  return url.replace(/^ws(s?):/i, 'http$1:').replace(/\/ws\/?$/, '').replace(/\/$/, '');
}

/** Whether this platform can stream a fetch response (the transport's one requirement). */
export const canStream = () => typeof fetch === 'function' && typeof ReadableStream === 'function' && typeof TextDecoder === 'function';

/** Most frames, and about the most bytes, of one POST (the server takes 4 x MAX_PAYLOAD_BYTES). */
export const POST_FRAMES = HTTP_SEND_MAX_FRAMES;
export const POST_BYTES = 128 * 1024;
const RETRY_MS = 1000;

/** The first frames of `queue` that fit one POST (at least one, whatever its size). */
function batch(queue: string[]): string[] {
  let bytes = 0;
  let n = 0;
  while (n < queue.length && n < POST_FRAMES && (n === 0 || bytes + queue[n].length <= POST_BYTES)) bytes += queue[n++].length + 1;
  return queue.splice(0, n);
}

export class HttpStreamSocket implements SocketLike {
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  private readonly base: string;
  private readonly stop = new AbortController();
  private session: { id: string; key: string } | undefined;
  private queue: string[] = [];
  private posting = false;
  private done = false;

  constructor(url: string, protocols?: string | string[]) {
    this.base = httpBase(url);
    const token = Array.isArray(protocols) && protocols[0] === 'bearer' ? protocols[1] : undefined;
    void this.run(token);
  }

  send(data: string): void {
    this.queue.push(data);
    void this.flush();
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    if (this.session) void this.post('/http/close', '').catch(() => {});
    this.stop.abort();
  }

  private async run(token: string | undefined): Promise<void> {
    let res: Response;
    try {
      res = await fetch(`${this.base}/http/stream`, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store', signal: this.stop.signal });
    } catch {
      return this.end(1006, 'stream unreachable');
    }
    if (res.status !== 200 || !res.body) return this.end(1006, `stream refused (HTTP ${res.status})`);
    this.onopen?.({});
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    for (;;) {
      const chunk = await reader.read().catch(() => ({ done: true as const, value: undefined }));
      if (chunk.done || this.done) break;
      buffered += decoder.decode(chunk.value, { stream: true });
      for (let at = buffered.indexOf('\n\n'); at >= 0 && !this.done; at = buffered.indexOf('\n\n')) {
        this.event(buffered.slice(0, at));
        buffered = buffered.slice(at + 2);
      }
    }
    this.end(1006, 'stream ended');
  }

  private event(block: string): void {
    let type = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data += line.slice(6);
    }
    if (type === 'message') return data ? this.onmessage?.({ data }) : undefined; // a comment: the server's keep-alive
    if (type === 'session') {
      this.session = JSON.parse(data) as { id: string; key: string };
      return void this.flush();
    }
    if (type === 'close') {
      const { code, reason } = JSON.parse(data) as { code: number; reason: string };
      this.end(code, reason);
    }
  }

  /** POST what is queued, then what was queued meanwhile; a POST refused for good ends the session. */
  private async flush(): Promise<void> {
    if (this.posting || !this.session || this.queue.length === 0 || this.done) return;
    this.posting = true;
    const frames = batch(this.queue);
    try {
      const res = await this.post('/http/send', frames.join('\n'));
      if (res.status === 429) {
        this.queue.unshift(...frames);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      } else if (res.status >= 400) return this.end(1006, `frames refused (HTTP ${res.status})`);
    } catch {
      return this.end(1006, 'frames not sent');
    } finally {
      this.posting = false;
    }
    void this.flush();
  }

  private post(path: string, body: string): Promise<Response> {
    const { id, key } = this.session!;
    return fetch(`${this.base}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-stream-id': id, 'x-stream-key': key }, body, cache: 'no-store' });
  }

  private end(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.stop.abort();
    this.onclose?.({ code, reason });
  }
}

export const HttpStream: WebSocketConstructor = HttpStreamSocket;
