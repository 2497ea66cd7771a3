/**
 * Test doubles for the client package (and the page's tests built on it): a scripted WebSocket
 * (the test plays the gateway), a JWT-shaped token, and a RealtimeClient wired to them, to
 * vitest's fake timers and to scripted randomness.
 *
 * Call `vi.useFakeTimers(FAKE_TIMERS)` (and reset `FakeSocket.all`) before making a client.
 */
import { vi } from 'vitest';
import type { WelcomeMessage } from '../../shared/protocol.js';
import { RealtimeClient, type ClientOptions, type SocketLike } from '../src/index.js';

/** What the tests fake: timers and the clock, not queueMicrotask (promises settle as usual). */
export const FAKE_TIMERS = { toFake: ['setTimeout', 'clearTimeout', 'Date'] } as const satisfies Parameters<typeof vi.useFakeTimers>[0];

export class FakeSocket implements SocketLike {
  /** Every socket made since the test reset it, oldest first. */
  static all: FakeSocket[] = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  /** The client's frames, parsed, in order. */
  sent: any[] = [];
  closedWith?: { code?: number; reason?: string };

  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    if (this.closedWith) throw new Error(`send after close: ${data}`);
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }

  // The server's side:

  /** Any frame, as the gateway would send it. */
  frame(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }

  welcome(over: Partial<WelcomeMessage> = {}): void {
    this.onopen?.({});
    this.frame(welcomeFrame(over));
  }

  /** The link drops (the server closed, or the network): the close event with `code`. */
  drop(code = 1006, reason = ''): void {
    this.onclose?.({ code, reason });
  }

  /** The client's last command of `type`; throws when there is none. */
  lastOf(type: string): any {
    const cmd = [...this.sent].reverse().find((f) => f.type === type);
    if (!cmd) throw new Error(`no ${type} command was sent; sent: ${JSON.stringify(this.sent)}`);
    return cmd;
  }

  /** Commands of `type` sent on this socket. */
  sentOf(type: string): any[] {
    return this.sent.filter((f) => f.type === type);
  }

  /** Ack the last command of `type` with `result`; returns that command. */
  ack(type: string, result?: unknown): any {
    const cmd = this.lastOf(type);
    this.frame({ type: 'ack', id: cmd.id, result });
    return cmd;
  }

  /** Answer the last command of `type` with an error frame; returns that command. */
  refuse(type: string, code: string, message = code): any {
    const cmd = this.lastOf(type);
    this.frame({ type: 'error', id: cmd.id, code, message });
    return cmd;
  }
}

export const last = (): FakeSocket => FakeSocket.all[FakeSocket.all.length - 1];

export function welcomeFrame(over: Partial<WelcomeMessage> = {}): WelcomeMessage {
  return {
    type: 'welcome', connectionId: 'c', node: 'n1', user: { id: 'u1', username: 'alice', displayName: 'Alice' },
    online: ['u1'], onlineCount: 1, onlineListed: true, heartbeatMs: 30_000, limits: { maxPayloadBytes: 65536, welcomeOnline: 100 }, ...over,
  };
}

/** Let pending promises and zero-delay timers run (the client opens a socket after awaiting its token). */
export const settle = (): Promise<void> => vi.advanceTimersByTimeAsync(0).then(() => {});

/**
 * Drop the link (1006) and bring the next one up with `welcome`; returns the new socket. The
 * backoff must wait 0 ms (`random` 0, fakeClient's default).
 */
export async function reconnect(over: Partial<WelcomeMessage> = { node: 'n2' }): Promise<FakeSocket> {
  const before = last();
  before.drop();
  await settle();
  const next = last();
  if (next === before) throw new Error('the client did not open a new socket after the drop');
  next.welcome(over);
  await settle();
  return next;
}

/** A JWT-shaped token (unsigned: the client only reads `exp`). */
export function jwt(expMs: number, sub = 'u1'): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part({ sub, exp: Math.floor(expMs / 1000) })}.sig`;
}

/**
 * A RealtimeClient on FakeSocket and the (fake) global timers, with a token valid for an hour
 * unless `options` say otherwise; `random` 0 unless given, so reconnects wait 0 ms. WebSocket
 * only, unless `options.transports` says otherwise (the fallback has its own tests).
 */
export function fakeClient(options: ClientOptions = {}, url: string | string[] = 'ws://gw.test/ws'): RealtimeClient {
  return new RealtimeClient(url, {
    token: options.getToken ? undefined : jwt(Date.now() + 3_600_000),
    WebSocket: FakeSocket,
    transports: ['websocket'],
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    random: () => 0,
    now: () => Date.now(),
    ...options,
  });
}

/** `fakeClient`, connected: the first socket welcomed (with `over`) and every promise settled. */
export async function connected(options: ClientOptions = {}, over: Partial<WelcomeMessage> = {}): Promise<RealtimeClient> {
  const client = fakeClient(options);
  const welcomed = client.connect();
  await settle();
  last().welcome(over);
  await welcomed;
  return client;
}
