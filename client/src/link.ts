/**
 * One connection attempt and its life, over any socket with the WebSocket API (the browser's,
 * React Native's, `ws` in Node, or the HTTP streaming transport).
 *
 * Contract:
 * - the token travels as the subprotocol pair `bearer, <token>` (never in the URL);
 * - the link is up once the `welcome` frame arrives, at most `connectTimeoutMs` after it was
 *   opened; until then nothing is sent;
 * - liveness: a `ping` every `welcome.heartbeatMs`; when no frame at all arrives within the pong
 *   deadline after a ping, the link is dead and closed by this side;
 * - every request is settled exactly once: its ack, its error, its timeout, or the link's end;
 * - `onEnd` is called once, with the close code (4000 for one this side gave up on).
 */
import { decodeFrame } from '../../shared/frames.js';
import type { ClientMessage, ServerMessage, WelcomeMessage } from '../../shared/protocol.js';
import { RequestError } from './errors.js';
import { PendingRequests } from './requests.js';
import { NamedTimers, type Timers } from './timers.js';

/** The part of the WebSocket API the client uses (the browser's WebSocket, React Native's and `ws` fit). */
export interface SocketLike {
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => SocketLike;

/** Why a link ended: the close code and reason, whether this side closed it, whether it ever opened and was welcomed. */
export interface LinkEnd { code: number; reason: string; byClient: boolean; opened: boolean; welcomed: boolean }

export interface LinkOptions {
  timers: Timers;
  connectTimeoutMs: number;
  /** Give up on a socket that has not opened by then (a transport to fall back from); default: the connect timeout only. */
  openTimeoutMs?: number;
  pongTimeoutMs?: number;
  onWelcome(welcome: WelcomeMessage): void;
  onFrame(msg: ServerMessage): void;
  onEnd(end: LinkEnd): void;
}

/** A command as the caller writes it: the link adds the id. */
export type Command = { [K in ClientMessage['type']]: Omit<Extract<ClientMessage, { type: K }>, 'id'> }[ClientMessage['type']];

/** A client-side close of a link that is dead or never got its welcome (not a code the server sends). */
export const GAVE_UP = 4000;

export class Link {
  welcome: WelcomeMessage | undefined;
  private opened = false;
  private ended = false;
  private nextId = 0;
  private readonly timers: NamedTimers<'connect' | 'open' | 'heartbeat' | 'pong'>;
  private readonly pending: PendingRequests;

  constructor(private readonly ws: SocketLike, private readonly o: LinkOptions) {
    this.timers = new NamedTimers(o.timers);
    this.pending = new PendingRequests(o.timers);
    this.timers.set('connect', o.connectTimeoutMs, () => this.end(GAVE_UP, 'no welcome in time', true));
    if (o.openTimeoutMs !== undefined) this.timers.set('open', o.openTimeoutMs, () => this.end(GAVE_UP, 'did not open in time', true));
    ws.onopen = () => {
      this.opened = true;
      this.timers.clear('open');
    };
    ws.onmessage = (ev: { data: unknown }) => this.receive(String(ev.data));
    ws.onclose = (ev: { code?: number; reason?: string }) => this.end(ev.code ?? 1006, ev.reason ?? '', false);
    ws.onerror = () => {}; // a close event follows; it carries what there is to know
  }

  /** Send `cmd` with a fresh id; resolves with the ack's result, rejects with a RequestError. */
  request<T>(cmd: Command, timeoutMs: number): Promise<T> {
    if (!this.welcome || this.ended) return Promise.reject(new RequestError('disconnected', 'not connected'));
    const id = `c${(this.nextId += 1)}`;
    const answer = this.pending.add<T>(id, cmd.type, timeoutMs);
    this.ws.send(JSON.stringify({ ...cmd, id } satisfies ClientMessage));
    return answer;
  }

  /** Close from this side (the app's close, or a dead link). */
  close(code: number, reason: string): void {
    this.end(code, reason, true);
  }

  private receive(text: string): void {
    if (this.ended) return;
    this.timers.clear('pong'); // any frame proves the link is alive
    const msg = decodeFrame(text);
    if (!msg) return; // not a frame of this protocol (or of a newer one): liveness only
    if (msg.type === 'welcome') return this.welcomed(msg);
    if (msg.type === 'ack') return this.pending.resolve(msg.id, msg.result);
    if (msg.type === 'error' && msg.id !== undefined && this.pending.has(msg.id)) {
      return this.pending.reject(msg.id, new RequestError(msg.code, msg.message));
    }
    this.o.onFrame(msg);
  }

  private welcomed(msg: WelcomeMessage): void {
    this.timers.clear('connect');
    this.welcome = msg;
    this.heartbeat(msg.heartbeatMs);
    this.o.onWelcome(msg);
  }

  private heartbeat(everyMs: number): void {
    const deadline = this.o.pongTimeoutMs ?? Math.min(10_000, everyMs);
    this.timers.set('heartbeat', everyMs, () => {
      this.ws.send('{"type":"ping"}');
      if (!this.timers.has('pong')) this.timers.set('pong', deadline, () => this.end(GAVE_UP, 'no answer to ping', true));
      this.heartbeat(everyMs);
    });
  }

  private end(code: number, reason: string, byClient: boolean): void {
    if (this.ended) return;
    this.ended = true;
    for (const name of ['connect', 'open', 'heartbeat', 'pong'] as const) this.timers.clear(name);
    this.ws.onmessage = this.ws.onclose = this.ws.onopen = null;
    // Never null: `ws` in Node emits 'error' when a connecting socket is closed, and an error
    // event without a listener ends the process.
    this.ws.onerror = () => {};
    if (byClient) {
      try {
        this.ws.close(code, reason);
      } catch {
        // already closing or closed
      }
    }
    this.pending.rejectAll(new RequestError('disconnected', 'the connection closed before the answer came'));
    this.o.onEnd({ code, reason, byClient, opened: this.opened || this.welcome !== undefined, welcomed: this.welcome !== undefined });
  }
}
