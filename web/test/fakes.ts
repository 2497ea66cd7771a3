/**
 * Test doubles for the browser client: a scripted WebSocket (the test plays the server), a
 * JWT-shaped token, and a client wired to them and to vitest's fake timers.
 */
import { vi } from 'vitest';
import { GatewayClient, type ClientOptions, type SocketLike } from '../src/client.js';

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  sent: any[] = [];
  closedWith?: { code?: number; reason?: string };

  constructor(readonly url: string, readonly protocols?: string | string[]) {
    FakeSocket.all.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }
  // The server's side:
  frame(msg: object): void {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  welcome(node = 'n1', heartbeatMs = 30_000): void {
    this.onopen?.({});
    this.frame({
      type: 'welcome', connectionId: 'c', node, user: { id: 'u1', username: 'alice', displayName: 'Alice' },
      online: ['u1'], onlineCount: 1, heartbeatMs, limits: { maxPayloadBytes: 65536, welcomeOnline: 1000 },
    });
  }
  drop(code = 1006): void {
    this.onclose?.({ code, reason: '' });
  }
  /** Ack the last command of `type` sent on this socket with `result`; returns that command. */
  ack(type: string, result?: unknown): any {
    const cmd = [...this.sent].reverse().find((f) => f.type === type);
    if (!cmd) throw new Error(`no ${type} command was sent; sent: ${JSON.stringify(this.sent)}`);
    this.frame({ type: 'ack', id: cmd.id, result });
    return cmd;
  }
}

export const last = (): FakeSocket => FakeSocket.all[FakeSocket.all.length - 1];

/** Drop the link (1006) and bring the next one up with a welcome from node n2; returns the new socket. */
export async function reconnect(): Promise<FakeSocket> {
  const before = last();
  before.drop();
  await vi.advanceTimersByTimeAsync(0);
  const next = last();
  if (next === before) throw new Error('the client did not open a new socket after the drop');
  next.welcome('n2');
  return next;
}

/** A JWT-shaped token (unsigned: the client only reads `exp`). */
export function jwt(expMs: number, sub = 'u1'): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256' })}.${part({ sub, exp: Math.floor(expMs / 1000) })}.sig`;
}

/** A client on FakeSocket and the (fake) global timers; `/api/me` answers 200; retries wait 0. */
export function fakeClient(token: () => string | undefined, over: Partial<ClientOptions> = {}): GatewayClient {
  return new GatewayClient({
    url: 'ws://gw.test/ws',
    meUrl: '/api/me',
    token,
    WebSocket: FakeSocket,
    fetch: async () => ({ status: 200 }),
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    random: () => 0,
    now: () => Date.now(),
    ...over,
  });
}
