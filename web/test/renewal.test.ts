/**
 * The page's token renewal: auth.ts refreshToken (POST /api/refresh) and what browser.ts's
 * getToken does with it. On `token_expiring` the client asks for a 'refresh': the page gets a
 * new token, stores the session, and the client hands it to the live socket; a failure is
 * reported (the page shows when the session ends) and, when it may pass, retried. After a 4001
 * ('expired') the session ends, unless a renewal stored a token that is still good. The client's
 * own part (when it asks, the `refresh` command, retries) is client/test/client.test.ts's.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClosedInfo } from '../../client/src/index.js';
import { FakeSocket, jwt, last, settle } from '../../client/test/fakes.js';
import { refreshToken, type HttpFetch } from '../src/auth.js';
import { pageEnv, session, type PageEnv } from './page-env.js';

let env: PageEnv;

beforeEach(() => {
  env = pageEnv();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

/** A page client, connected. */
async function connected() {
  const page = env.make();
  const closed: ClosedInfo[] = [];
  page.client.on('closed', (c) => closed.push(c));
  void page.client.connect().catch(() => {});
  await settle();
  last().welcome();
  await settle();
  return { ...page, closed };
}

describe('renewing the token (browser.ts getToken "refresh")', () => {
  it('POSTs /api/refresh with the current token, stores the new session, and sends the new token on the live socket', async () => {
    const old = env.session!.accessToken;
    const fresh = jwt(Date.now() + 7_200_000);
    env.answer('/api/refresh', { status: 200, body: { accessToken: fresh, expiresAt: 5555 } });
    await connected();
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(env.fetched).toEqual([{ url: '/api/refresh', method: 'POST', auth: `Bearer ${old}` }]);
    expect(env.session).toMatchObject({ accessToken: fresh, expiresAt: 5555 }); // stored before the socket has it
    const cmd = last().ack('refresh', { expiresAt: 4242 });
    expect(cmd).toMatchObject({ type: 'refresh', token: fresh });
    await settle();
    expect(env.refreshed).toEqual([4242]);
    expect([env.failed, FakeSocket.all.length]).toEqual([[], 1]);
  });

  it('a session that cannot be renewed (401): reported once, no refresh sent; the 4001 then ends it as expired', async () => {
    env.session = session(jwt(Date.now() + 30_000));
    env.answer('/api/refresh', { status: 401 });
    const { closed } = await connected();
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 30_000 });
    await settle();
    expect(env.failed).toEqual(['token renewal failed: Your session cannot be renewed.']);
    expect(last().sentOf('refresh')).toEqual([]);
    await vi.advanceTimersByTimeAsync(29_000);
    expect(env.fetched.filter((f) => f.url === '/api/refresh')).toHaveLength(1); // not retried
    vi.setSystemTime(Date.now() + 2000);
    last().drop(4001);
    await settle();
    expect(closed).toEqual([{ reason: 'expired', message: 'Your session expired. Please sign in again.' }]);
    expect(env.fetched.map((f) => f.url)).toEqual(['/api/refresh']); // /api/me is not asked
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('a renewal that fails for now (503, offline): reported, and tried again 5 s later', async () => {
    const fresh = jwt(Date.now() + 7_200_000);
    env.answer('/api/refresh', { status: 503, body: { error: 'unavailable' } }, 'offline', { status: 200, body: { accessToken: fresh, expiresAt: 9 } });
    await connected();
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(env.failed).toEqual(['token renewal failed: Renewing the session failed (HTTP 503).']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(env.failed).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5000);
    expect(last().lastOf('refresh')).toMatchObject({ token: fresh });
    expect(env.fetched.filter((f) => f.url === '/api/refresh')).toHaveLength(3);
  });

  it('4001 after a renewal was stored but its refresh never reached the socket: reconnects with the stored token', async () => {
    const fresh = jwt(Date.now() + 7_200_000);
    env.answer('/api/refresh', { status: 200, body: { accessToken: fresh, expiresAt: 5555 } });
    const { closed } = await connected();
    last().frame({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
    await settle();
    expect(last().lastOf('refresh')).toMatchObject({ token: fresh });
    last().drop(4001); // the old token expired on the server before the refresh came
    await settle();
    expect(closed).toEqual([]);
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().protocols).toEqual(['bearer', fresh]);
    expect(env.failed).toEqual([]);
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
