/**
 * The page's client (web/src/browser.ts) in a faked browser: same-origin /ws with the stored
 * token; before a reconnect whose last attempt never got in (a refused upgrade looks like a
 * network error in a browser) it asks GET /api/me whether the token is still good, and ends the
 * session on 401; the `online` event skips the rest of a backoff wait; stop() closes for good.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClosedInfo } from '../../client/src/index.js';
import { FakeSocket, last, settle } from '../../client/test/fakes.js';
import { pageEnv, type PageEnv } from './page-env.js';

let env: PageEnv;

beforeEach(() => {
  env = pageEnv();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function start() {
  const page = env.make();
  const closed: ClosedInfo[] = [];
  page.client.on('closed', (c) => closed.push(c));
  void page.client.connect().catch(() => {});
  return { ...page, closed };
}

describe('browserClient', () => {
  it('connects to same-origin /ws with the stored token, asking nothing over HTTP', async () => {
    const { client } = start();
    await settle();
    expect(last().url).toBe('ws://gw.test/ws');
    expect(last().protocols).toEqual(['bearer', env.session!.accessToken]);
    last().welcome();
    expect(client.state).toBe('connected');
    vi.stubGlobal('location', { protocol: 'https:', host: 'chat.example' });
    const secure = env.make().client;
    void secure.connect();
    await settle();
    expect(last().url).toBe('wss://chat.example/ws');
    expect(env.fetched).toEqual([]);
  });

  it('asks /api/me before reconnecting after an attempt that never got in, and ends the session on 401', async () => {
    const { client, closed } = start();
    await settle();
    env.answer('/api/me', { status: 401 });
    last().onopen?.({});
    last().drop(1006);
    await settle();
    expect(env.fetched).toEqual([{ url: '/api/me', method: 'GET', auth: `Bearer ${env.session!.accessToken}`, cache: 'no-store' }]);
    expect(closed).toEqual([{ reason: 'unauthorized', message: 'Your session expired or was revoked. Please sign in again.' }]);
    expect(client.state).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reconnects with the stored token when /api/me says 200, or cannot be reached at all', async () => {
    const { closed } = start();
    await settle();
    env.answer('/api/me', { status: 200 }, 'offline');
    // Opened, then dropped before the welcome (a refused socket that never opens falls back to HTTP instead).
    last().onopen?.({});
    last().drop(1006);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    last().onopen?.({});
    last().drop(1006);
    await settle();
    expect(FakeSocket.all).toHaveLength(3);
    expect(env.fetched.map((f) => f.url)).toEqual(['/api/me', '/api/me']);
    expect(last().protocols).toEqual(['bearer', env.session!.accessToken]);
    expect(closed).toEqual([]);
  });

  it('does not ask /api/me when the dropped link had its welcome', async () => {
    start();
    await settle();
    last().welcome();
    last().drop(1006);
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    expect(env.fetched).toEqual([]);
  });

  it('the browser\'s `online` event skips the rest of a backoff wait; stop() closes with 1000 and for good', async () => {
    const { client, stop, closed } = start();
    await settle();
    last().welcome();
    vi.mocked(Math.random).mockReturnValue(0.999);
    last().drop(1006);
    await settle();
    expect(FakeSocket.all).toHaveLength(1);
    env.window.dispatchEvent(new Event('online'));
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    last().welcome();
    stop();
    expect(last().closedWith?.code).toBe(1000);
    expect(closed).toEqual([{ reason: 'client', message: expect.any(String) }]);
    env.window.dispatchEvent(new Event('online'));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(2);
    expect(client.state).toBe('closed');
  });

  it('signed out meanwhile: the client closes as unauthorized instead of connecting', async () => {
    env.session = undefined;
    const { closed } = start();
    await settle();
    expect(FakeSocket.all).toEqual([]);
    expect(closed).toEqual([{ reason: 'unauthorized', message: 'signed out' }]);
  });
});
