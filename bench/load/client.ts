/**
 * One load client over `ws`: connect, wait for the server's welcome (when it sends one),
 * join an action and wait for the ack; after that every frame goes to `onFrame`.
 * Protocol heartbeats (Engine.IO ping) are answered here at every stage.
 */
import WebSocket from 'ws';
import { wallMs } from './stats.js';
import type { Wire } from './wire.js';

export interface ClientSpec {
  wire: Wire;
  url: string;
  /** Action to join once welcomed; none for a client that only connects. */
  join?: string;
  /** Ours only: send `watch []` right after the welcome, so this client gets no presence frames. */
  watchNone: boolean;
  localAddress?: string;
  timeoutMs: number;
}

export type FrameHandler = (buf: Buffer, client: LoadClient) => void;

export class LoadClient {
  ws?: WebSocket;
  open = false;
  /** Wall-clock ms when the welcome (or open, for servers without one) arrived. */
  welcomedAt = 0;
  /** The welcome frame's text, kept only when asked for. */
  welcome?: string;

  constructor(readonly userId: string, public spec: ClientSpec, private readonly onFrame: FrameHandler, private readonly keepWelcome = false) {}

  /** Connect and (optionally) join; resolves when ready, rejects on refusal, error frame or timeout. */
  connect(): Promise<void> {
    const { wire, url, localAddress, timeoutMs } = this.spec;
    const ws = new WebSocket(url, { perMessageDeflate: false, localAddress, handshakeTimeout: timeoutMs });
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      let stage: 'open' | 'welcomed' | 'joining' | 'ready' = 'open';
      const timer = setTimeout(() => fail(new Error(`not ready within ${timeoutMs} ms (stage ${stage})`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        ws.removeAllListeners('message');
        ws.on('error', () => {});
        ws.terminate();
        reject(err);
      };
      const ready = () => {
        stage = 'ready';
        clearTimeout(timer);
        this.open = true;
        resolve();
      };
      const welcomed = () => {
        this.welcomedAt = wallMs();
        stage = 'welcomed';
        if (this.spec.watchNone) for (const f of wire.quiet()) ws.send(f);
        if (!this.spec.join) return ready();
        stage = 'joining';
        ws.send(wire.join(this.spec.join, 1));
      };
      ws.once('open', () => {
        if (wire.readyAtOpen) welcomed();
      });
      ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)));
      ws.on('error', (err) => (stage === 'ready' ? undefined : fail(err)));
      ws.on('close', (code, reason) => {
        this.open = false;
        if (stage !== 'ready') fail(new Error(`closed (${code} ${reason.toString()}) at stage ${stage}`));
      });
      ws.on('message', (data: Buffer) => {
        if (stage === 'ready') return this.frame(data);
        const text = data.toString();
        const answer = wire.answer(text);
        if (answer) return ws.send(answer);
        if (stage === 'open' && wire.isWelcome(text)) {
          if (this.keepWelcome) this.welcome = text;
          return welcomed();
        }
        if (stage === 'joining' && wire.isAck(text, 1)) return ready();
        if (wire.isError(text)) return fail(new Error(`server error: ${text.slice(0, 200)}`));
        this.onFrame(data, this);
      });
    });
  }

  private frame(data: Buffer): void {
    if (data.length === 1) {
      const answer = this.spec.wire.answer(data.toString());
      if (answer) this.ws?.send(answer);
      return;
    }
    this.onFrame(data, this);
  }

  send(text: string): void {
    if (this.open) this.ws!.send(text);
  }

  /** Close and resolve once the socket is closed (or after 5 s, terminated). */
  close(): Promise<void> {
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 5000);
      ws.once('close', () => {
        clearTimeout(t);
        resolve();
      });
      ws.close();
    });
  }
}

/** Run `tasks` with at most `limit` in flight; resolves with how many failed and the first error. */
export async function pool(tasks: Array<() => Promise<void>>, limit: number): Promise<{ failed: number; firstError?: string }> {
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next];
      next += 1;
      try {
        await task();
      } catch (err) {
        failed += 1;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return { failed, firstError };
}
