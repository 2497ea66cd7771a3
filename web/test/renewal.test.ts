/**
 * Token renewal (web/src/renewal.ts and auth.ts refreshToken): on `token_expiring` get a new
 * token, hand it to the live socket with `refresh`, and reconnect with it; fall back to the
 * old behaviour (banner, then 4001 → sign-in) when the session cannot be renewed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { refreshToken, type HttpFetch } from '../src/auth.js';
import type { AuthFailure } from '../src/client.js';
import { keepTokenFresh, type RenewResult } from '../src/renewal.js';
import { fakeClient, FakeSocket, jwt, last } from './fakes.js';

let token: string;
let answers: RenewResult[];
let renewCalls: number;
let refreshed: number[];
let failed: string[];
let failures: AuthFailure[];

function setup() {
  const client = fakeClient(() => token);
  client.on('authFailure', (f) => failures.push(f));
  const stop = keepTokenFresh(client, {
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
    now: () => Date.now(),
    retryMs: 1000,
    renew: async () => {
      renewCalls += 1;
      const next = answers.shift() ?? { ok: false, retry: false, message: 'no more answers' };
      if (next.ok) token = next.token; // the page stores it before resolving
      return next;
    },
    refreshed: (at) => refreshed.push(at),
    failed: (f) => failed.push(f.message),
  });
  client.start();
  last().welcome();
  return { client, stop };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
  token = jwt(Date.now() + 60_000);
  answers = [];
  renewCalls = 0;
  refreshed = [];
  failed = [];
  failures = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('keepTokenFresh', () => {
  it('renews on token_expiring, sends refresh on the live socket, and reconnects with the new token', async () => {
    setup();
    const fresh = jwt(Date.now() + 3_600_000);
    answers.push({ ok: true, token: fresh, expiresAt: Date.now() + 3_600_000 });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await vi.advanceTimersByTimeAsync(0);
    const cmd = last().ack('refresh', { expiresAt: 4242 });
    expect(cmd).toMatchObject({ type: 'refresh', token: fresh });
    await vi.advanceTimersByTimeAsync(0);
    expect(refreshed).toEqual([4242]);
    last().drop();
    await vi.advanceTimersByTimeAsync(0);
    expect(last().protocols).toEqual(['bearer', fresh]);
  });

  it('retries a transient failure while the old token lasts, then reports failure', async () => {
    setup();
    answers.push({ ok: false, retry: true, message: 'down' }, { ok: false, retry: true, message: 'still down' });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 1500 });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 1500 }); // one renewal at a time
    await vi.advanceTimersByTimeAsync(0);
    expect(renewCalls).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(renewCalls).toBe(2);
    expect(failed).toEqual(['still down']); // a third try would start after expiry
  });

  it('falls back when the session cannot be renewed (401): failure reported, then 4001 ends the session', async () => {
    setup();
    answers.push({ ok: false, retry: false, message: 'Your session cannot be renewed.' });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await vi.advanceTimersByTimeAsync(0);
    expect(failed).toEqual(['Your session cannot be renewed.']);
    expect(last().sent.filter((f) => f.type === 'refresh')).toEqual([]);
    last().drop(4001);
    expect(failures).toEqual([expect.objectContaining({ reason: 'expired' })]);
  });

  it('reports failure when the server refuses the refresh command', async () => {
    setup();
    answers.push({ ok: true, token: jwt(Date.now() + 3_600_000, 'someone-else'), expiresAt: 1 });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await vi.advanceTimersByTimeAsync(0);
    const cmd = last().sent.find((f) => f.type === 'refresh');
    last().frame({ type: 'error', id: cmd.id, code: 'forbidden', message: 'refresh token is for another user' });
    await vi.advanceTimersByTimeAsync(0);
    expect(failed).toEqual(['refresh token is for another user']);
  });

  it('reconnects instead of giving up on 4001 when a newer token arrived meanwhile', async () => {
    setup();
    token = jwt(Date.now() + 3_600_000); // renewed, but the refresh never reached that socket
    last().drop(4001);
    expect(failures).toEqual([]);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().protocols).toEqual(['bearer', token]);
  });

  it('stop() cancels a pending retry', async () => {
    const { stop } = setup();
    answers.push({ ok: false, retry: true, message: 'down' });
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await vi.advanceTimersByTimeAsync(0);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(renewCalls).toBe(1);
  });
});

describe('refreshToken (POST /api/refresh)', () => {
  const answer = (status: number, body?: unknown): HttpFetch => async () => ({ status, json: async () => body });

  it('sends the current token as Bearer and returns the new one', async () => {
    const calls: unknown[] = [];
    const fetchFn: HttpFetch = async (url, init) => {
      calls.push([url, init.method, init.headers.authorization]);
      return { status: 200, json: async () => ({ accessToken: 'new', expiresAt: 99 }) };
    };
    expect(await refreshToken(fetchFn, 'old')).toEqual({ ok: true, token: 'new', expiresAt: 99 });
    expect(calls).toEqual([['/api/refresh', 'POST', 'Bearer old']]);
  });

  it('is final on 401 and 404, retryable on 5xx, a bad body or a network failure', async () => {
    expect(await refreshToken(answer(401), 't')).toMatchObject({ ok: false, retry: false });
    expect(await refreshToken(answer(404), 't')).toMatchObject({ ok: false, retry: false });
    expect(await refreshToken(answer(503, { error: 'unavailable' }), 't')).toMatchObject({ ok: false, retry: true });
    expect(await refreshToken(answer(200, { accessToken: 1 }), 't')).toMatchObject({ ok: false, retry: true });
    expect(await refreshToken(async () => { throw new TypeError('offline'); }, 't')).toMatchObject({ ok: false, retry: true });
  });
});
