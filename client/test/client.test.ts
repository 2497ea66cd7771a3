/**
 * RealtimeClient (client/src/client.ts, link.ts, rejoins.ts) against a scripted WebSocket, fake
 * timers and scripted randomness: its states, connect() and close(), reconnection by close code
 * (full-jitter backoff, 1012, 4029, 4001, 4003), tokens (getToken's reasons, renewal on the live
 * socket), heartbeats and the connect timeout, URL rotation, channels (join, one `joins` frame
 * per reconnect with positions, refused and transient re-joins, unrecovered history, `left`),
 * and request().
 */
import { afterEach, beforeEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import type { SearchResult, WatchResult, WelcomeMessage } from '../../shared/protocol.js';
import { MAX_BATCHED_JOINS } from '../../shared/protocol.js';
import { backoffCeiling, DEFAULT_BACKOFF } from '../src/backoff.js';
import {
  RequestError, UnauthorizedError, type ChannelEvents, type ChannelMessage, type ClientEvents, type ClientOptions, type ClosedInfo,
  type ConnectionState, type RealtimeClient, type TokenReason,
} from '../src/index.js';
import { FAKE_TIMERS, fakeClient, FakeSocket, jwt, last, settle } from './fakes.js';

let randoms: number[];
/** Scripted randomness: the queued values first, then 0.5. */
const random = () => (randoms.length > 0 ? randoms.shift()! : 0.5);

interface Made {
  client: RealtimeClient;
  states: ConnectionState[];
  disconnects: Array<ClientEvents['disconnect']>;
  closed: ClosedInfo[];
  errors: Array<ClientEvents['error']>;
  delays(): number[];
}

function make(over: ClientOptions = {}, url?: string | string[]): Made {
  const client = fakeClient({ random, ...over }, url);
  const made: Made = { client, states: [], disconnects: [], closed: [], errors: [], delays: () => made.disconnects.map((d) => d.delayMs) };
  client.on('state', (s) => made.states.push(s));
  client.on('disconnect', (d) => made.disconnects.push(d));
  client.on('closed', (c) => made.closed.push(c));
  client.on('error', (e) => made.errors.push(e));
  return made;
}

/** A client whose tokens come from `getToken`, answering with `tokens` (or a fresh token); `asked` lists the reasons. */
function withGetToken(answer?: (reason: TokenReason) => string | Promise<string>, over: ClientOptions = {}) {
  const asked: TokenReason[] = [];
  const made = make({
    getToken: async ({ reason }) => {
      asked.push(reason);
      return answer ? answer(reason) : jwt(Date.now() + 3_600_000);
    },
    ...over,
  });
  return { ...made, asked };
}

/** connect(), let the token come, welcome the socket; resolves with the welcome. */
async function up(client: RealtimeClient, over: Partial<WelcomeMessage> = {}): Promise<WelcomeMessage> {
  const welcomed = client.connect();
  await settle();
  last().welcome(over);
  return welcomed;
}

/** After a drop: wait `ms` (the backoff), then welcome the new socket. */
async function back(ms = 0, over: Partial<WelcomeMessage> = { node: 'n2' }): Promise<FakeSocket> {
  const before = last();
  await vi.advanceTimersByTimeAsync(ms);
  const ws = last();
  if (ws === before) throw new Error('no new socket');
  ws.welcome(over);
  await settle();
  return ws;
}

const message = (action: string, offset?: string, data: unknown = 1) => ({ type: 'message', action, from: { system: true }, data, ts: 1, ...(offset ? { offset } : {}) });

beforeEach(() => {
  vi.useFakeTimers(FAKE_TIMERS);
  FakeSocket.all = [];
  randoms = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('states, connect() and close()', () => {
  it('starts disconnected; connect() goes connecting, sends the token as the bearer subprotocol, and is connected only after the welcome', async () => {
    const token = jwt(Date.now() + 3_600_000);
    const { client, states } = make({ token });
    expect(client.state).toBe('disconnected');
    expect(FakeSocket.all).toEqual([]); // nothing before connect()
    const welcomed = client.connect();
    const again = client.connect(); // one attempt for both callers
    expect(client.state).toBe('connecting');
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    expect(last().url).toBe('ws://gw.test/ws');
    expect(last().protocols).toEqual(['bearer', token]);
    expect(client.welcome).toBeUndefined();
    last().welcome({ node: 'node-a' });
    const w = await welcomed;
    expect(w).toMatchObject({ type: 'welcome', node: 'node-a' });
    await expect(again).resolves.toBe(w);
    expect([client.state, client.welcome, client.user]).toEqual(['connected', w, w.user]);
    await expect(client.connect()).resolves.toBe(w); // already connected
    expect(states).toEqual(['connecting', 'connected']);
    expect(last().sent).toEqual([]); // nothing is sent unasked (no watch: `*` is the default)
  });

  it('goes disconnected when the link drops, connecting and connected again, and closed after close()', async () => {
    const { client, states, closed } = make();
    await up(client);
    randoms.push(0.999);
    last().drop(1006);
    expect(client.state).toBe('disconnected');
    expect(client.welcome).toBeUndefined();
    await back(499);
    expect(client.state).toBe('connected');
    client.close();
    expect(last().closedWith).toEqual({ code: 1000, reason: 'client closed' });
    expect(states).toEqual(['connecting', 'connected', 'disconnected', 'connecting', 'connected', 'closed']);
    expect(closed).toEqual([{ reason: 'client', message: expect.any(String) }]);
    client.close(); // once
    expect(closed).toHaveLength(1);
  });

  it('close() rejects the connect() waiters and pending requests with "disconnected", and never reconnects', async () => {
    const { client } = make();
    const early = client.connect();
    await settle();
    client.close(); // before the welcome
    await expect(early).rejects.toMatchObject({ name: 'RequestError', code: 'disconnected' });
    expect(last().closedWith?.code).toBe(1000);

    await up(client);
    const pending = client.request({ type: 'search', q: 'x' });
    const waiting = client.connect(); // resolves at once: connected
    client.close();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
    await expect(waiting).resolves.toMatchObject({ type: 'welcome' });
    last().drop(1000); // the close event after our own close changes nothing
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(2);
    expect(client.state).toBe('closed');
    await expect(client.request({ type: 'search', q: 'x' })).rejects.toMatchObject({ code: 'disconnected' });
  });

  it('close() while a reconnect waits cancels it; while getToken is pending opens no socket', async () => {
    const { client } = make();
    await up(client);
    randoms.push(0.999);
    last().drop();
    client.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);

    let give!: (t: string) => void;
    const slow = make({ getToken: () => new Promise<string>((resolve) => (give = resolve)) });
    const connecting = expect(slow.client.connect()).rejects.toMatchObject({ code: 'disconnected' });
    await settle();
    slow.client.close();
    give(jwt(Date.now() + 3_600_000));
    await settle();
    await connecting;
    expect(FakeSocket.all).toHaveLength(1);
    expect(slow.client.state).toBe('closed');
  });

  it('a token that comes after close() (and a new connect()) or fails after close() opens nothing and schedules nothing', async () => {
    const gives: Array<{ resolve(t: string): void; reject(e: Error): void }> = [];
    const { client, states } = make({ getToken: () => new Promise<string>((resolve, reject) => gives.push({ resolve, reject })) });
    void client.connect().catch(() => {});
    await settle();
    client.close();
    const second = client.connect(); // started again while the first attempt still waits for its token
    await settle();
    gives[0].resolve(jwt(Date.now() + 3_600_000, 'stale'));
    await settle();
    expect(FakeSocket.all).toEqual([]);
    const token = jwt(Date.now() + 3_600_000, 'fresh');
    gives[1].resolve(token);
    await settle();
    expect(FakeSocket.all.map((s) => s.protocols)).toEqual([['bearer', token]]);
    last().welcome();
    await second;

    client.close();
    void client.connect().catch(() => {});
    await settle();
    client.close();
    gives[2].reject(new Error('network down')); // after the close: no retry
    await vi.advanceTimersByTimeAsync(60_000);
    expect([client.state, gives.length, FakeSocket.all.length]).toEqual(['closed', 3, 1]);
    expect(states.slice(-3)).toEqual(['closed', 'connecting', 'closed']);
  });

  it('connect() after close() starts again', async () => {
    const { client, states } = make();
    await up(client);
    client.close();
    const w = await up(client, { node: 'n3' });
    expect(w.node).toBe('n3');
    expect(FakeSocket.all).toHaveLength(2);
    expect(states.slice(-3)).toEqual(['closed', 'connecting', 'connected']);
  });
});

describe('reconnecting, by close code', () => {
  it('1006 and 4008: full jitter, random() * min(20 s, 0.5 s * 2^n), never a moment early', async () => {
    const { client, delays, disconnects } = make();
    void client.connect().catch(() => {});
    await settle();
    for (let n = 0; n < 10; n++) {
      randoms.push(0.999);
      const before = FakeSocket.all.length;
      last().drop(n % 2 === 0 ? 1006 : 4008); // never welcomed: the window keeps growing
      const delay = delays()[n];
      expect(delay).toBe(Math.floor(0.999 * backoffCeiling(DEFAULT_BACKOFF, n)));
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(20_000, 500 * 2 ** n));
      expect(client.state).toBe('disconnected');
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(FakeSocket.all.length).toBe(before); // not a moment early
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeSocket.all.length).toBe(before + 1);
    }
    // The top of each window: 0.5 s, 1 s, 2 s, ... then the 20 s cap.
    expect(delays()).toEqual([499, 999, 1998, 3996, 7992, 15984, 19980, 19980, 19980, 19980]);
    expect(disconnects.map((d) => d.code)).toEqual([1006, 4008, 1006, 4008, 1006, 4008, 1006, 4008, 1006, 4008]);
  });

  it('can wait zero: the lower bound of the window is 0', async () => {
    const { client, delays } = make();
    await up(client);
    randoms.push(0);
    last().drop();
    expect(delays()).toEqual([0]);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
  });

  it('starts again from the first window after a welcome', async () => {
    const { client, delays } = make();
    void client.connect().catch(() => {});
    await settle();
    for (let n = 0; n < 4; n++) {
      randoms.push(0.999);
      last().drop();
      await vi.advanceTimersByTimeAsync(delays()[n]);
    }
    expect(delays()).toEqual([499, 999, 1998, 3996]);
    last().welcome();
    randoms.push(0.999);
    last().drop();
    expect(delays().at(-1)).toBe(499);
  });

  it('1012 (a node stopping): within 1 s, without growing the window', async () => {
    const { client, delays } = make();
    void client.connect().catch(() => {});
    await settle();
    randoms.push(0.999, 0.999);
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(499);
    last().drop(1006);
    await vi.advanceTimersByTimeAsync(999); // the third window is 2 s
    randoms.push(0.999);
    last().drop(1012);
    expect(delays()[2]).toBe(999);
    await vi.advanceTimersByTimeAsync(998);
    expect(FakeSocket.all).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all).toHaveLength(4);
    last().welcome();
    randoms.push(0.999);
    last().drop(1012);
    randoms.push(0.999);
    await vi.advanceTimersByTimeAsync(999);
    last().drop(1006); // a failed retry after the restart: the first window
    expect(delays().slice(3)).toEqual([999, 499]);
  });

  it('4029 (rate limited): from 5 s, doubling', async () => {
    const { client, delays } = make();
    await up(client);
    for (let n = 0; n < 3; n++) {
      randoms.push(0.999);
      last().drop(4029);
      await vi.advanceTimersByTimeAsync(delays()[n]);
    }
    expect(delays()).toEqual([4995, 9990, 19980]);
    randoms.push(0);
    last().drop(4029);
    expect(delays()[3]).toBe(0);
  });

  it('4001 (token expired): asks getToken with reason "expired", then reconnects with the new token', async () => {
    const fresh = jwt(Date.now() + 7_200_000);
    const { client, asked, closed } = withGetToken((reason) => (reason === 'expired' ? fresh : jwt(Date.now() + 60_000)));
    await up(client);
    expect(asked).toEqual(['connect']);
    randoms.push(0);
    last().drop(4001);
    await settle();
    expect(asked).toEqual(['connect', 'expired']);
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().protocols).toEqual(['bearer', fresh]);
    last().welcome();
    expect(client.state).toBe('connected');
    expect(closed).toEqual([]);
  });

  it('4001, and getToken throws UnauthorizedError: closed with its reason, no reconnect', async () => {
    const { client, asked, closed } = withGetToken((reason) => {
      if (reason === 'expired') throw new UnauthorizedError('Your session expired.', 'expired');
      return jwt(Date.now() + 60_000);
    });
    const welcomed = await up(client);
    expect(welcomed.type).toBe('welcome');
    randoms.push(0);
    last().drop(4001);
    await settle();
    expect(asked).toEqual(['connect', 'expired']);
    expect(client.state).toBe('closed');
    expect(closed).toEqual([{ reason: 'expired', message: 'Your session expired.' }]);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);

    const plain = withGetToken((reason) => {
      if (reason === 'expired') throw new UnauthorizedError('revoked');
      return jwt(Date.now() + 60_000);
    });
    await up(plain.client);
    randoms.push(0);
    last().drop(4001);
    await settle();
    expect(plain.closed).toEqual([{ reason: 'unauthorized', message: 'revoked' }]);
  });

  it('4003 (disconnected by the server): closed for good, reason "disconnected", no getToken call, no reconnect', async () => {
    const { client, asked, closed, states, disconnects } = withGetToken();
    await up(client);
    const pending = client.request({ type: 'search', q: 'x' });
    last().drop(4003);
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
    expect(client.state).toBe('closed');
    expect(states.at(-1)).toBe('closed');
    expect(closed).toEqual([{ reason: 'disconnected', message: expect.any(String) }]);
    expect(disconnects).toEqual([]);
    expect(client.welcome).toBeUndefined();
    client.reconnectNow(); // the browser coming back online does not revive it
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(asked).toEqual(['connect']);
  });

  it('connect() after a 4003 or an expired session asks getToken for a new token ("connect")', async () => {
    let n = 0;
    const tokens = [jwt(Date.now() + 3_600_000, 'u1'), jwt(Date.now() + 3_600_000, 'u1-again'), jwt(Date.now() + 3_600_000, 'u1-third')];
    const { client, asked } = withGetToken((reason) => {
      if (reason === 'expired') throw new UnauthorizedError('expired', 'expired');
      return tokens[n++];
    });
    await up(client);
    last().drop(4003);
    await up(client, { node: 'n3' });
    expect(asked).toEqual(['connect', 'connect']);
    expect(last().protocols).toEqual(['bearer', tokens[1]]);

    randoms.push(0);
    last().drop(4001);
    await settle();
    expect(client.state).toBe('closed');
    await up(client, { node: 'n4' }); // signed in again: a fresh start, not a renewal
    expect(asked).toEqual(['connect', 'connect', 'expired', 'connect']);
    expect(last().protocols).toEqual(['bearer', tokens[2]]);
    expect(client.state).toBe('connected');
  });

  it('asks getToken with reason "retry" before reconnecting after a link that never got its welcome', async () => {
    const { client, asked } = withGetToken();
    void client.connect().catch(() => {});
    await settle();
    expect(asked).toEqual(['connect']);
    randoms.push(0);
    last().drop(1006); // a refused upgrade looks like this in a browser
    await settle();
    expect(asked).toEqual(['connect', 'retry']);
    expect(FakeSocket.all).toHaveLength(2);
    last().welcome();
    randoms.push(0);
    last().drop(1006); // welcomed: the token was fine
    await settle();
    expect(asked).toEqual(['connect', 'retry']);
    expect(FakeSocket.all).toHaveLength(3);
  });

  it('getToken failing with a plain error: tried again with backoff; an expired token handed over closes with "expired"', async () => {
    let fail = true;
    const { client, asked, disconnects, closed } = withGetToken(() => {
      if (fail) throw new Error('network down');
      return jwt(Date.now() - 1000);
    });
    void client.connect().catch(() => {});
    await settle();
    expect(FakeSocket.all).toEqual([]);
    expect(client.state).toBe('disconnected');
    expect(disconnects).toEqual([{ code: 4000, reason: 'no token: network down', delayMs: expect.any(Number) }]);
    fail = false;
    await vi.advanceTimersByTimeAsync(disconnects[0].delayMs);
    expect(asked).toEqual(['connect', 'connect']);
    expect(closed).toEqual([{ reason: 'expired', message: expect.any(String) }]);
    expect(FakeSocket.all).toEqual([]);
  });

  it('a fixed token that expired locally closes with "expired" instead of reconnecting', async () => {
    const { client, closed } = make({ token: jwt(Date.now() + 1000) });
    await up(client);
    vi.setSystemTime(Date.now() + 2000);
    randoms.push(0);
    last().drop();
    await settle();
    expect(closed).toEqual([{ reason: 'expired', message: expect.any(String) }]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reconnectNow() skips the rest of a backoff wait, and does nothing otherwise', async () => {
    const { client, delays } = make();
    await up(client);
    client.reconnectNow();
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    randoms.push(0.999);
    last().drop();
    expect(delays()).toEqual([499]);
    client.reconnectNow();
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(2); // the skipped timer does not fire as well
  });

  it('tries the next URL on each reconnect, round the list', async () => {
    const { client } = make({}, ['ws://a.test/ws', 'ws://b.test/ws', 'ws://c.test/ws']);
    await up(client);
    for (let i = 0; i < 3; i++) {
      randoms.push(0);
      last().drop();
      await settle();
    }
    expect(FakeSocket.all.map((s) => s.url)).toEqual(['ws://a.test/ws', 'ws://b.test/ws', 'ws://c.test/ws', 'ws://a.test/ws']);
    expect(() => fakeClient({}, [])).toThrow(TypeError);
  });
});

describe('liveness', () => {
  it('pings every welcome.heartbeatMs; any frame answers; a missing answer closes with 4000 and reconnects', async () => {
    const { client, disconnects } = make();
    await up(client, { heartbeatMs: 1000 });
    const ws = last();
    await vi.advanceTimersByTimeAsync(999);
    expect(ws.sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ws.sent).toEqual([{ type: 'ping' }]);
    ws.frame({ type: 'pong', ts: 1 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(ws.sent).toHaveLength(2);
    expect(ws.closedWith).toBeUndefined();
    randoms.push(0);
    await vi.advanceTimersByTimeAsync(1000); // no answer to the second ping within min(10 s, heartbeat)
    expect(ws.closedWith?.code).toBe(4000);
    expect(disconnects).toEqual([{ code: 4000, reason: 'no answer to ping', delayMs: 0 }]);
    expect(client.welcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1); // a 0 ms timer set inside a fake timer's callback runs 1 ms later
    expect(FakeSocket.all).toHaveLength(2);
    expect(ws.sent).toHaveLength(2); // the dead socket gets no more pings
  });

  it('pongTimeoutMs sets the deadline after a ping', async () => {
    const { client } = make({ pongTimeoutMs: 300 });
    await up(client, { heartbeatMs: 1000 });
    await vi.advanceTimersByTimeAsync(1299);
    expect(last().closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all[0].closedWith?.code).toBe(4000);
  });

  it('gives up on a connect that brings no welcome in connectTimeoutMs (then asks the token again)', async () => {
    const { client, disconnects, asked } = withGetToken(undefined, { connectTimeoutMs: 3000 });
    const connecting = client.connect();
    await settle();
    await vi.advanceTimersByTimeAsync(2999);
    expect(last().closedWith).toBeUndefined();
    randoms.push(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all[0].closedWith?.code).toBe(4000);
    expect(disconnects).toEqual([{ code: 4000, reason: 'no welcome in time', delayMs: 0 }]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(['connect', 'retry']);
    expect(FakeSocket.all).toHaveLength(2);
    last().welcome();
    await expect(connecting).resolves.toMatchObject({ type: 'welcome' }); // connect() waits across attempts
  });

  it('waits 10 s for a welcome by default', async () => {
    const { client } = make();
    void client.connect().catch(() => {});
    await settle();
    await vi.advanceTimersByTimeAsync(9999);
    expect(last().closedWith).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeSocket.all[0].closedWith?.code).toBe(4000);
  });
});

describe('token renewal on the live socket', () => {
  it('token_expiring: getToken("refresh"), a `refresh` command on the same socket, `refreshed`; the next connect uses the new token', async () => {
    const fresh = jwt(Date.now() + 3_600_000);
    const { client, asked } = withGetToken((reason) => (reason === 'refresh' ? fresh : jwt(Date.now() + 60_000)));
    const refreshed: number[] = [];
    client.on('refreshed', (r) => refreshed.push(r.expiresAt));
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(asked).toEqual(['connect', 'refresh']);
    const cmd = last().ack('refresh', { expiresAt: 4242 });
    expect(cmd).toEqual({ type: 'refresh', token: fresh, id: expect.any(String) });
    await settle();
    expect(refreshed).toEqual([4242]);
    expect(FakeSocket.all).toHaveLength(1);
    expect(client.state).toBe('connected');
    randoms.push(0);
    last().drop();
    await settle();
    expect(last().protocols).toEqual(['bearer', fresh]);
    expect(asked).toEqual(['connect', 'refresh']);
  });

  it('renews one token at a time', async () => {
    let give!: (t: string) => void;
    const { client, asked } = withGetToken((reason) => (reason === 'refresh' ? new Promise<string>((resolve) => (give = resolve)) : jwt(Date.now() + 60_000)));
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(asked).toEqual(['connect', 'refresh']);
    give(jwt(Date.now() + 3_600_000));
    await settle();
    expect(last().sentOf('refresh')).toHaveLength(1);
  });

  it('retries a failed renewal every 5 s while the old token lasts, reporting each failure as an `error` with code "token"', async () => {
    const { client, asked, errors } = withGetToken((reason) => {
      if (reason === 'refresh') throw new Error('down');
      return jwt(Date.now() + 60_000);
    });
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 12_000 });
    await settle();
    expect(asked).toEqual(['connect', 'refresh']);
    await vi.advanceTimersByTimeAsync(4999);
    expect(asked).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(5000);
    expect(asked).toHaveLength(4); // a fourth try would start after expiry
    await vi.advanceTimersByTimeAsync(30_000);
    expect(asked).toHaveLength(4);
    expect(errors).toEqual(Array(3).fill({ code: 'token', message: 'token renewal failed: down' }));
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('does not retry a renewal refused with UnauthorizedError; the server\'s 4001 then asks "expired"', async () => {
    const { client, asked, errors } = withGetToken((reason) => {
      if (reason === 'refresh') throw new UnauthorizedError('Your session cannot be renewed.', 'expired');
      return jwt(Date.now() + 60_000);
    });
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(asked).toEqual(['connect', 'refresh']);
    expect(errors).toEqual([{ code: 'token', message: 'token renewal failed: Your session cannot be renewed.' }]);
    expect(last().sentOf('refresh')).toEqual([]);
    randoms.push(0);
    last().drop(4001);
    await settle();
    expect(asked).toEqual(['connect', 'refresh', 'expired']);
  });

  it('reports the server\'s refusal of the refresh command', async () => {
    const { client, errors } = withGetToken();
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    last().refuse('refresh', 'forbidden', 'refresh token is for another user');
    await settle();
    expect(errors).toEqual([{ code: 'token', message: 'token renewal failed: refresh token is for another user' }]);
  });

  it('stays quiet when the link drops during a renewal, and ignores token_expiring without getToken', async () => {
    const { client, errors } = withGetToken();
    await up(client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    randoms.push(0);
    last().drop();
    await settle();
    expect(errors).toEqual([]);

    const fixed = make();
    await up(fixed.client);
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(last().sent).toEqual([]);
    expect(fixed.errors).toEqual([]);
  });
});

describe('channels', () => {
  it('channel() hands out one object per name; join() while connected sends `join` and resolves with the ack', async () => {
    const { client } = make();
    await up(client);
    const lobby = client.channel('lobby');
    expect(client.channel('lobby')).toBe(lobby);
    const seen: Array<ClientEvents['joined']> = [];
    const own: Array<ChannelEvents['joined']> = [];
    client.on('joined', (j) => seen.push(j));
    lobby.on('joined', (j) => own.push(j));
    const joining = lobby.join();
    expect(lobby.joined).toBe(true);
    expect(last().sent).toEqual([{ type: 'join', action: 'lobby', id: expect.any(String) }]);
    last().ack('join', { action: 'lobby', joined: true });
    await expect(joining).resolves.toEqual({ action: 'lobby', joined: true });
    expect(own).toEqual([{ result: { action: 'lobby', joined: true }, rejoin: false }]);
    expect(seen).toEqual([{ action: 'lobby', result: { action: 'lobby', joined: true }, rejoin: false }]);
  });

  it('join() while disconnected sends nothing and resolves after the next welcome\'s `joins` batch', async () => {
    const { client } = make();
    const tours = client.channel('tours');
    const lobby = client.channel('lobby');
    const joining = [tours.join({ history: 1 }), lobby.join()];
    void client.connect();
    await settle();
    expect(last().sent).toEqual([]);
    last().welcome();
    await settle();
    expect(last().sent).toEqual([{ type: 'joins', joins: [{ action: 'tours', history: 1 }, { action: 'lobby' }], id: expect.any(String) }]);
    last().ack('joins', { results: [{ action: 'tours', joined: true, offset: '3-0', epoch: 'e1', delivered: 1 }, { action: 'lobby', joined: true }] });
    await expect(Promise.all(joining)).resolves.toEqual([
      { action: 'tours', joined: true, offset: '3-0', epoch: 'e1', delivered: 1 }, { action: 'lobby', joined: true },
    ]);
    expect(tours.position).toEqual({ offset: '3-0', epoch: 'e1' });
  });

  it('sends ONE `joins` frame on every reconnect: every kept channel with its position, none it left', async () => {
    const { client } = make();
    await up(client);
    const names = ['lobby', 'news', 'tours', 'gone'];
    const joins = names.map((n) => client.channel(n).join(n === 'tours' ? { history: 5 } : undefined));
    const ws = last();
    for (const f of ws.sentOf('join')) {
      const withHistory = f.action === 'news' ? { offset: '4-0', epoch: 'e1' } : {};
      ws.frame({ type: 'ack', id: f.id, result: { action: f.action, joined: true, ...withHistory } });
    }
    await Promise.all(joins);
    for (const offset of ['5-0', '12-0', '11-0']) ws.frame(message('news', offset));
    const leaving = client.channel('gone').leave();
    expect(ws.lastOf('leave')).toEqual({ type: 'leave', action: 'gone', id: expect.any(String) });
    ws.ack('leave', { action: 'gone', joined: false });
    await leaving;

    randoms.push(0);
    ws.drop();
    await settle();
    const second = last();
    expect(second).not.toBe(ws);
    expect(second.sent).toEqual([]); // nothing before the welcome
    second.welcome({ node: 'n2' });
    await settle();
    expect(second.sent).toEqual([{
      type: 'joins', id: expect.any(String),
      joins: [{ action: 'lobby' }, { action: 'news', since: '12-0', epoch: 'e1' }, { action: 'tours', history: 5 }],
    }]);
    expect(names.map((n) => client.channel(n).joined)).toEqual([true, true, true, false]);
  });

  it('re-joins more channels than one frame takes in frames of at most MAX_BATCHED_JOINS, each answered', async () => {
    const { client } = make();
    const names = Array.from({ length: MAX_BATCHED_JOINS + 50 }, (_, i) => `c${i}`);
    const joining = names.map((n) => client.channel(n).join());
    void client.connect();
    await settle();
    last().welcome();
    await settle();
    const frames = last().sentOf('joins');
    expect(frames.map((f) => f.joins.length)).toEqual([MAX_BATCHED_JOINS, 50]);
    expect(frames.flatMap((f) => f.joins.map((j: { action: string }) => j.action))).toEqual(names);
    for (const f of frames) last().frame({ type: 'ack', id: f.id, result: { results: f.joins.map((j: { action: string }) => ({ action: j.action, joined: true })) } });
    await expect(Promise.all(joining)).resolves.toHaveLength(names.length);
  });

  it('joins one by one when the gateway refuses a `joins` frame whole, so no join() is left waiting', async () => {
    const { client } = make();
    const joining = ['lobby', 'news'].map((n) => client.channel(n).join());
    void client.connect();
    await settle();
    last().welcome();
    await settle();
    last().refuse('joins', 'bad_request', 'joins: at most 100');
    await settle();
    expect(last().sentOf('join').map((f) => f.action)).toEqual(['lobby', 'news']);
    for (const f of last().sentOf('join')) last().frame({ type: 'ack', id: f.id, result: { action: f.action, joined: true } });
    await expect(Promise.all(joining)).resolves.toEqual([{ action: 'lobby', joined: true }, { action: 'news', joined: true }]);
  });

  it('sends no `joins` frame when no channel is kept', async () => {
    const { client } = make();
    await up(client);
    randoms.push(0);
    last().drop();
    await back();
    expect(last().sent).toEqual([]);
  });

  it('a re-join refused for good (forbidden) emits `left` with the error and stops keeping the channel', async () => {
    const { client } = make();
    const secret = client.channel('secret');
    const lobby = client.channel('lobby');
    const lefts: Array<ClientEvents['left']> = [];
    client.on('left', (l) => lefts.push(l));
    const waiting = secret.join(); // before the first welcome
    void lobby.join();
    await up(client);
    await settle();
    last().ack('joins', { results: [{ action: 'secret', joined: false, error: { code: 'forbidden', message: 'claim: not in your channels' } }, { action: 'lobby', joined: true }] });
    await expect(waiting).rejects.toMatchObject({ name: 'RequestError', code: 'forbidden', message: 'claim: not in your channels' });
    expect(lefts).toEqual([{ action: 'secret', reason: 'claim: not in your channels', error: expect.any(RequestError) }]);
    expect(lefts[0].error?.code).toBe('forbidden');
    expect([secret.joined, lobby.joined]).toEqual([false, true]);
    randoms.push(0);
    last().drop();
    const ws = await back();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'lobby' }]);
  });

  it('a re-join refused for now (rate_limited) keeps the channel and is tried again 2 s later, alone', async () => {
    const { client } = make();
    const news = client.channel('news');
    const lobby = client.channel('lobby');
    const waiting = news.join();
    void lobby.join();
    await up(client);
    await settle();
    last().ack('joins', { results: [{ action: 'news', joined: false, error: { code: 'rate_limited', message: 'slow down' } }, { action: 'lobby', joined: true }] });
    await settle();
    expect(news.joined).toBe(true);
    await vi.advanceTimersByTimeAsync(1999);
    expect(last().sentOf('joins')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(last().sentOf('joins')).toHaveLength(2);
    expect(last().lastOf('joins').joins).toEqual([{ action: 'news' }]);
    last().ack('joins', { results: [{ action: 'news', joined: true }] });
    await expect(waiting).resolves.toEqual({ action: 'news', joined: true });
  });

  it('recovered: false on a channel joined with history: N leaves and joins it with history: N (`unrecovered`, reloading)', async () => {
    const { client } = make();
    await up(client);
    const tours = client.channel('tours');
    const unrecovered: Array<ChannelEvents['unrecovered']> = [];
    tours.on('unrecovered', (u) => unrecovered.push(u));
    const messages: unknown[] = [];
    tours.on('message', (m) => messages.push(m.data));
    void tours.join({ history: 1 });
    last().frame(message('tours', '9-0', 'state 1'));
    last().ack('join', { action: 'tours', joined: true, offset: '9-0', epoch: 'e1', delivered: 1 });
    await settle();
    randoms.push(0);
    last().drop();
    const ws = await back();
    ws.ack('joins', { results: [{ action: 'tours', joined: true, recovered: false, delivered: 0, offset: '30-0', epoch: 'e2' }] });
    await settle();
    expect(unrecovered).toEqual([{ result: expect.objectContaining({ recovered: false }), reloading: true }]);
    ws.ack('leave', { action: 'tours', joined: false });
    await settle();
    expect(ws.lastOf('join')).toEqual({ type: 'join', action: 'tours', history: 1, id: expect.any(String) });
    ws.frame(message('tours', '30-0', 'state 2'));
    ws.ack('join', { action: 'tours', joined: true, offset: '30-0', epoch: 'e2', delivered: 1 });
    await settle();
    expect(messages).toEqual(['state 1', 'state 2']);
    expect(tours.position).toEqual({ offset: '30-0', epoch: 'e2' });
    expect(unrecovered).toHaveLength(1);
  });

  it('a `left` frame stops keeping the channel: `left` events, position gone, not re-joined; a new join() is plain', async () => {
    const { client } = make();
    await up(client);
    const news = client.channel('news');
    const lobby = client.channel('lobby');
    const lefts: Array<ClientEvents['left']> = [];
    const own: Array<ChannelEvents['left']> = [];
    client.on('left', (l) => lefts.push(l));
    news.on('left', (l) => own.push(l));
    const joins = [news.join(), lobby.join()];
    last().frame({ type: 'ack', id: last().sentOf('join')[0].id, result: { action: 'news', joined: true, offset: '7-0', epoch: 'e1' } });
    last().frame({ type: 'ack', id: last().sentOf('join')[1].id, result: { action: 'lobby', joined: true } });
    await Promise.all(joins);

    last().frame({ type: 'left', action: 'news', reason: 'unsubscribed' });
    expect(own).toEqual([{ reason: 'unsubscribed' }]);
    expect(lefts).toEqual([{ action: 'news', reason: 'unsubscribed' }]);
    expect([news.joined, news.position]).toEqual([false, undefined]);
    // One the app never asked for by name (joined through another tab's session, a raw request): still reported.
    last().frame({ type: 'left', action: 'elsewhere', reason: 'unsubscribed' });
    expect(lefts.map((l) => l.action)).toEqual(['news', 'elsewhere']);
    expect([client.state, lobby.joined]).toEqual(['connected', true]);

    randoms.push(0);
    last().drop();
    let ws = await back();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'lobby' }]);

    const rejoining = news.join();
    expect(ws.sent.at(-1)).toEqual({ type: 'join', action: 'news', id: expect.any(String) }); // nothing published while removed is owed
    const refused = expect(rejoining).rejects.toMatchObject({ code: 'disconnected' });
    randoms.push(0);
    ws.drop(); // before the ack: rejected, but still kept
    await refused;
    ws = await back();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'lobby' }, { action: 'news' }]);
  });

  it('a join() refused (forbidden) rejects and is not kept; one answered `rate_limited` is kept', async () => {
    const { client } = make();
    await up(client);
    const secret = client.channel('secret');
    const busy = client.channel('busy');
    const refused = secret.join();
    last().refuse('join', 'forbidden', 'not allowed');
    await expect(refused).rejects.toMatchObject({ code: 'forbidden' });
    expect(secret.joined).toBe(false);
    const limited = busy.join();
    last().refuse('join', 'rate_limited', 'slow down');
    await expect(limited).rejects.toMatchObject({ code: 'rate_limited' });
    expect(busy.joined).toBe(true);
  });

  it('joins one by one when the gateway does not know `joins` (unknown_type)', async () => {
    const { client } = make();
    void client.channel('a').join();
    void client.channel('b').join();
    await up(client);
    await settle();
    last().refuse('joins', 'unknown_type', 'message type is not part of the protocol');
    await settle();
    expect(last().sentOf('join').map((f) => f.action)).toEqual(['a', 'b']);
  });

  it('delivers messages to their channel and to the client; publish() sends `publish` and resolves with the ack', async () => {
    const { client } = make();
    await up(client);
    const lobby = client.channel('lobby');
    const mine: ChannelMessage[] = [];
    const all: ChannelMessage[] = [];
    lobby.on('message', (m) => mine.push(m));
    client.on('message', (m) => all.push(m));
    last().frame(message('lobby', undefined, 'hi'));
    last().frame(message('other', '3-0', 'there'));
    expect(mine).toEqual([{ action: 'lobby', data: 'hi', from: { system: true }, offset: undefined, ts: 1 }]);
    expect(all.map((m) => m.data)).toEqual(['hi', 'there']);
    const publishing = lobby.publish({ text: 'yo' }, { echo: true });
    expect(last().lastOf('publish')).toEqual({ type: 'publish', action: 'lobby', data: { text: 'yo' }, echo: true, id: expect.any(String) });
    last().ack('publish', { ts: 99 });
    await expect(publishing).resolves.toEqual({ ts: 99 });
    void lobby.publish(1).catch(() => {});
    expect(last().lastOf('publish')).toEqual({ type: 'publish', action: 'lobby', data: 1, id: expect.any(String) });
  });

  it('close() rejects joins waiting for a connection', async () => {
    const { client } = make();
    const waiting = client.channel('lobby').join();
    client.close();
    await expect(waiting).rejects.toMatchObject({ code: 'disconnected' });
  });
});

describe('request()', () => {
  it('resolves with the ack result, rejects with the error code, and times out', async () => {
    const { client } = make();
    await up(client);
    const ws = last();
    const ok = client.request({ type: 'search', q: 'ali' });
    const bad = client.request({ type: 'publish', action: 'x', data: 1 });
    const slow = client.request({ type: 'online', cursor: '5' }, { timeoutMs: 1000 });
    const slowest = client.request({ type: 'users', ids: ['u2'] }); // the default: 10 s
    const [s1, s2, s3, s4] = ws.sent;
    expect(new Set([s1.id, s2.id, s3.id, s4.id]).size).toBe(4);
    expect(s1).toEqual({ type: 'search', q: 'ali', id: s1.id });
    ws.frame({ type: 'ack', id: s1.id, result: { users: [] } });
    ws.frame({ type: 'error', id: s2.id, code: 'not_member', message: 'join first' });
    await expect(ok).resolves.toEqual({ users: [] });
    await expect(bad).rejects.toMatchObject({ name: 'RequestError', code: 'not_member', message: 'join first' });
    const timedOut = expect(slow).rejects.toMatchObject({ code: 'timeout' });
    await vi.advanceTimersByTimeAsync(1000);
    await timedOut;
    let settled = false;
    slowest.then(() => (settled = true), () => (settled = true));
    await vi.advanceTimersByTimeAsync(8999);
    expect(settled).toBe(false);
    const late = expect(slowest).rejects.toMatchObject({ code: 'timeout' });
    await vi.advanceTimersByTimeAsync(1);
    await late;
    ws.frame({ type: 'ack', id: s3.id, result: { users: ['late'] } }); // an answer after the timeout changes nothing
    expect(client.state).toBe('connected');
  });

  it('rejects at once when not connected, and pending requests when the link drops', async () => {
    const { client } = make();
    await expect(client.request({ type: 'search', q: 'x' })).rejects.toMatchObject({ name: 'RequestError', code: 'disconnected' });
    void client.connect();
    await settle();
    await expect(client.request({ type: 'search', q: 'x' })).rejects.toMatchObject({ code: 'disconnected' }); // before the welcome
    expect(last().sent).toEqual([]);
    last().welcome();
    const pending = client.request({ type: 'search', q: 'x' });
    randoms.push(0);
    last().drop();
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
  });

  it('is typed by the command: its result, and only commands of the protocol', () => {
    const typing = (client: RealtimeClient) => {
      expectTypeOf(client.request({ type: 'search', q: 'a' })).resolves.toEqualTypeOf<SearchResult>();
      expectTypeOf(client.request({ type: 'watch', users: '*' })).resolves.toEqualTypeOf<WatchResult>();
      // @ts-expect-error: not a command of the protocol
      void client.request({ type: 'shout', q: 'a' });
      // @ts-expect-error: search needs q
      void client.request({ type: 'search' });
    };
    expect(typing).toBeTypeOf('function'); // checked by tsc; nothing to run
  });
});

describe('other frames', () => {
  it('passes on profile changes (the own one updates `user`) and error frames that answer no request; ignores unknown frames', async () => {
    const { client, errors } = make();
    await up(client);
    const profiles: string[] = [];
    client.on('profile', (u) => profiles.push(u.displayName));
    last().frame({ type: 'profile', user: { id: 'u2', username: 'bob', displayName: 'Bob B.' } });
    expect(client.user?.displayName).toBe('Alice');
    last().frame({ type: 'profile', user: { id: 'u1', username: 'alice', displayName: 'Alice A.' } });
    expect(profiles).toEqual(['Bob B.', 'Alice A.']);
    expect(client.user?.displayName).toBe('Alice A.');
    last().frame({ type: 'error', code: 'bad_json', message: 'frame is not valid JSON' });
    expect(errors).toEqual([{ code: 'bad_json', message: 'frame is not valid JSON' }]);
    last().frame({ type: 'something_newer', x: 1 });
    last().onmessage?.({ data: 'not json' });
    expect(client.state).toBe('connected');
  });
});
