/**
 * The page when the backend removes the user: close 4003 (POST /api/disconnect) ends the page's
 * client for good with reason 'disconnected' (main.ts then ends the session and says so): no
 * /api/me, no new token asked, and the browser coming back online does not revive it; a new
 * sign-in makes a new client, which connects with the new token. What the client itself does on
 * 4003 and on a `left` frame (POST /api/unsubscribe) is client/test/client.test.ts's.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClosedInfo } from '../../client/src/index.js';
import { FakeSocket, jwt, last, settle } from '../../client/test/fakes.js';
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

describe('close 4003: disconnected by the backend', () => {
  it('closes the page\'s client with reason "disconnected", asks nothing over HTTP, and the `online` event does not revive it', async () => {
    const page = env.make();
    const closed: ClosedInfo[] = [];
    page.client.on('closed', (c) => closed.push(c));
    void page.client.connect();
    await settle();
    last().welcome();
    env.session = session(jwt(Date.now() + 7_200_000)); // a renewal that raced the close
    last().drop(4003);
    expect(closed).toEqual([{ reason: 'disconnected', message: expect.any(String) }]);
    expect(page.client.state).toBe('closed');
    env.window.dispatchEvent(new Event('online'));
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(env.fetched).toEqual([]);
    page.stop(); // the session ends: nothing more happens
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('a new sign-in makes a new client, which connects with the new token', async () => {
    const first = env.make();
    void first.client.connect();
    await settle();
    last().welcome();
    last().drop(4003);
    first.stop();
    env.session = session(jwt(Date.now() + 3_600_000, 'u1-new-session'));
    const second = env.make();
    const welcomed = second.client.connect();
    await settle();
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().protocols).toEqual(['bearer', env.session.accessToken]);
    last().welcome({ node: 'n3' });
    await expect(welcomed).resolves.toMatchObject({ node: 'n3' });
  });
});
