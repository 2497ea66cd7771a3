/**
 * The reconnecting client (web/src/client.ts) against a fake WebSocket, fake timers and
 * scripted randomness: backoff with full jitter, reset on welcome, re-join, stopping when
 * the session is over, heartbeats, and request() answers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffCeiling, DEFAULT_BACKOFF } from '../src/backoff.js';
import { GatewayClient, RequestError, type AuthFailure, type ClientOptions, type ConnectionStatus } from '../src/client.js';
import { FakeSocket, jwt, last } from './fakes.js';

let randoms: number[];
let meStatus: number | 'throw';
let token: string;
let fetched: Array<{ url: string; auth: string }>;

function makeClient(over: Partial<ClientOptions> = {}) {
  const client = new GatewayClient({
    url: 'ws://gw.test/ws',
    meUrl: '/api/me',
    token: () => token,
    WebSocket: FakeSocket,
    fetch: async (url, init) => {
      fetched.push({ url, auth: init.headers.authorization });
      if (meStatus === 'throw') throw new TypeError('network down');
      return { status: meStatus };
    },
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    random: () => (randoms.length > 0 ? randoms.shift()! : 0.5),
    now: () => Date.now(),
    ...over,
  });
  const statuses: ConnectionStatus[] = [];
  const failures: AuthFailure[] = [];
  client.on('status', (s) => statuses.push(s));
  client.on('authFailure', (f) => failures.push(f));
  const delays = () => statuses.flatMap((s) => (s.state === 'reconnecting' ? [s.delayMs] : []));
  return { client, statuses, failures, delays };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
  randoms = [];
  meStatus = 200;
  fetched = [];
  token = jwt(Date.now() + 3_600_000);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('connecting', () => {
  it('sends the token as the bearer subprotocol and is connected only after the welcome', () => {
    const { client, statuses } = makeClient();
    client.start();
    expect(last().protocols).toEqual(['bearer', token]);
    expect(last().url).toBe('ws://gw.test/ws');
    expect(client.welcome).toBeUndefined();
    last().welcome('node-a');
    expect(client.welcome?.node).toBe('node-a');
    expect(statuses.map((s) => s.state)).toEqual(['connecting', 'connected']);
  });
});

describe('events', () => {
  it('passes on token_expiring, and retryNow() skips the rest of a backoff wait', async () => {
    const { client, delays } = makeClient();
    const warnings: number[] = [];
    client.on('tokenExpiring', (t) => warnings.push(t.expiresAt));
    client.start();
    last().welcome();
    last().frame({ type: 'token_expiring', expiresAt: 1234 });
    expect(warnings).toEqual([1234]);
    randoms.push(0.999999);
    last().drop();
    expect(delays()).toEqual([499]);
    client.retryNow();
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2);
  });
});

describe('reconnect backoff', () => {
  it('waits random() * min(cap, base * 2^n) before retry n: full jitter, capped at 30 s', async () => {
    const { client, delays } = makeClient();
    client.start();
    for (let n = 0; n < 10; n++) {
      const r = n % 2 === 0 ? 0.999999 : Math.random();
      randoms.push(r);
      const before = FakeSocket.all.length;
      last().drop();
      const delay = delays()[n];
      expect(delay).toBe(Math.floor(r * backoffCeiling(DEFAULT_BACKOFF, n)));
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(Math.min(30_000, 500 * 2 ** n));
      if (delay > 0) {
        await vi.advanceTimersByTimeAsync(delay - 1);
        expect(FakeSocket.all.length).toBe(before); // not a moment early
      }
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeSocket.all.length).toBe(before + 1);
    }
    // The top of each window: 0.5 s, 1 s, 2 s, ... then the 30 s cap.
    expect(delays().filter((_, n) => n % 2 === 0)).toEqual([499, 1999, 7999, 29999, 29999]);
  });

  it('can wait zero: the lower bound of the jitter window is 0', async () => {
    const { client, delays } = makeClient();
    client.start();
    randoms.push(0);
    last().drop();
    expect(delays()).toEqual([0]);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('starts again from the base window after a successful welcome', async () => {
    const { client, statuses, delays } = makeClient();
    client.start();
    for (let n = 0; n < 4; n++) {
      randoms.push(0.999999);
      last().drop();
      await vi.advanceTimersByTimeAsync(delays()[n]);
    }
    expect(delays()).toEqual([499, 999, 1999, 3999]);
    last().welcome();
    expect(statuses.at(-1)).toEqual({ state: 'connected', node: 'n1' });
    randoms.push(0.999999);
    last().drop();
    expect(delays().at(-1)).toBe(499);
  });

  it('retries within a small jitter after 1012 (service restart), without growing the window', async () => {
    const { client, delays } = makeClient({ restartJitterMs: 1000 });
    client.start();
    last().welcome();
    randoms.push(0.75);
    last().drop(1012);
    expect(delays()).toEqual([750]);
    await vi.advanceTimersByTimeAsync(750);
    expect(FakeSocket.all).toHaveLength(2);
    randoms.push(0.999999);
    last().drop(); // a failed retry after the restart: first backoff window
    expect(delays().at(-1)).toBe(499);
  });
});

describe('re-joining after a reconnect', () => {
  it('joins every action again on the new connection, and not the ones it left', async () => {
    const { client } = makeClient();
    client.start();
    last().welcome();
    const first = last();
    const joins = ['lobby', 'room/2', 'gone'].map((a) => client.join(a));
    for (const f of first.sent) first.frame({ type: 'ack', id: f.id, result: { action: f.action, joined: true } });
    await Promise.all(joins);
    const leaving = client.leave('gone');
    first.frame({ type: 'ack', id: first.sent.at(-1).id });
    await leaving;

    randoms.push(0);
    first.drop();
    await vi.advanceTimersByTimeAsync(0);
    const second = last();
    expect(second).not.toBe(first);
    expect(second.sent).toEqual([]); // nothing before the welcome
    second.welcome('n2');
    expect(second.sent.map((f) => [f.type, f.action])).toEqual([['join', 'lobby'], ['join', 'room/2']]);
    expect(client.actions).toEqual(['lobby', 'room/2']);
  });
});

describe('stopping when the session is over', () => {
  it('stops without retrying once the token has expired locally', async () => {
    token = jwt(Date.now() + 1000);
    const { client, failures, statuses } = makeClient();
    client.start();
    last().welcome();
    vi.setSystemTime(Date.now() + 2000);
    last().drop();
    expect(failures).toEqual([expect.objectContaining({ reason: 'expired' })]);
    expect(statuses.at(-1)).toEqual({ state: 'offline', reason: 'auth' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(fetched).toEqual([]);
  });

  it('asks /api/me before reconnecting and stops on 401 (a refused upgrade looks like 1006)', async () => {
    const { client, failures, delays } = makeClient();
    client.start();
    last().welcome();
    meStatus = 401;
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(delays()[0]);
    expect(fetched).toEqual([{ url: '/api/me', auth: `Bearer ${token}` }]);
    expect(failures).toEqual([expect.objectContaining({ reason: 'unauthorized' })]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reconnects when /api/me says 200, or cannot be reached at all', async () => {
    const { client, failures, delays } = makeClient();
    client.start();
    last().drop(); // a failed first connect is checked the same way
    await vi.advanceTimersByTimeAsync(delays()[0]);
    expect(FakeSocket.all).toHaveLength(2);
    meStatus = 'throw';
    last().drop();
    await vi.advanceTimersByTimeAsync(delays()[1]);
    expect(FakeSocket.all).toHaveLength(3);
    expect(fetched).toHaveLength(2);
    expect(failures).toEqual([]);
  });

  it('stops on close 4001 (token expired) without asking anyone', async () => {
    const { client, failures } = makeClient();
    client.start();
    last().welcome();
    last().drop(4001);
    expect(failures).toEqual([expect.objectContaining({ reason: 'expired' })]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(fetched).toEqual([]);
  });

  it('stop() closes with 1000 and never reconnects', async () => {
    const { client, statuses } = makeClient();
    const closes: Array<{ code: number; byClient: boolean }> = [];
    client.on('closed', (c) => closes.push(c));
    client.start();
    last().welcome();
    client.stop();
    expect(last().closedWith?.code).toBe(1000);
    expect(closes).toEqual([expect.objectContaining({ code: 1000, byClient: true })]);
    last().drop(1000); // the browser's close event after our own close is ignored
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: 'offline', reason: 'stopped' });
  });
});

describe('liveness', () => {
  it('pings every heartbeatMs and treats a silent link as dead', async () => {
    const { client, delays } = makeClient({ pongTimeoutMs: 500 });
    client.start();
    const ws = last();
    ws.welcome('n1', 1000);
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toEqual([{ type: 'ping' }]);
    ws.frame({ type: 'pong', ts: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toHaveLength(2);
    expect(ws.closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(500); // no answer to the second ping
    expect(ws.closedWith?.code).toBe(4000);
    expect(delays()).toHaveLength(1);
    expect(client.welcome).toBeUndefined();
  });

  it('gives up on a connect that brings no welcome in time', async () => {
    const { client, delays } = makeClient({ connectTimeoutMs: 3000 });
    client.start();
    await vi.advanceTimersByTimeAsync(3000);
    expect(last().closedWith?.code).toBe(4000);
    expect(delays()).toHaveLength(1);
  });
});

describe('request()', () => {
  it('resolves with the ack result, rejects with the error code, and times out', async () => {
    const { client } = makeClient();
    client.start();
    const ws = last();
    ws.welcome();
    const ok = client.request({ type: 'search', q: 'ali' }, 1000);
    const bad = client.request({ type: 'publish', action: 'x', data: 1 }, 1000);
    const slow = client.request({ type: 'online', cursor: '5' }, 1000);
    const [s1, s2, s3] = ws.sent;
    expect(new Set([s1.id, s2.id, s3.id]).size).toBe(3);
    ws.frame({ type: 'ack', id: s1.id, result: { users: [] } });
    ws.frame({ type: 'error', id: s2.id, code: 'not_member', message: 'join first' });
    await expect(ok).resolves.toEqual({ users: [] });
    await expect(bad).rejects.toMatchObject({ name: 'RequestError', code: 'not_member' });
    const timedOut = expect(slow).rejects.toMatchObject({ code: 'timeout' });
    await vi.advanceTimersByTimeAsync(1000);
    await timedOut;
  });

  it('rejects at once when not connected, and pending requests when the link drops', async () => {
    const { client } = makeClient();
    client.start();
    await expect(client.request({ type: 'ping' })).rejects.toBeInstanceOf(RequestError);
    last().welcome();
    const pending = client.request({ type: 'search', q: 'x' });
    last().drop();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
  });
});
