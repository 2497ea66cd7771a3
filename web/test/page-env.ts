/**
 * What web/src/browser.ts needs of a browser, faked in Node: `location`, `window` (its `online`
 * event), `WebSocket` (client/test/fakes.ts FakeSocket) and `fetch` (answered by the test), with
 * vitest's fake timers, and `Math.random` 0 so every reconnect waits 0 ms. Then a browserClient
 * on a session the test holds.
 */
import { vi } from 'vitest';
import { FAKE_TIMERS, FakeSocket, jwt } from '../../client/test/fakes.js';
import type { Session } from '../src/auth.js';
import { browserClient } from '../src/browser.js';

export interface Fetched { url: string; method: string; auth?: string; cache?: string }
type Answer = { status: number; body?: unknown } | 'offline';

export interface PageEnv {
  /** Every HTTP request the page made. */
  fetched: Fetched[];
  /** How the next requests to `path` are answered (default 200 with no body). */
  answer(path: string, ...answers: Answer[]): void;
  window: EventTarget;
  session: Session | undefined;
  refreshed: number[];
  failed: string[];
  make(): ReturnType<typeof browserClient>;
}

export function session(token = jwt(Date.now() + 3_600_000)): Session {
  return { accessToken: token, expiresAt: Date.now() + 3_600_000, user: { id: 'u1', username: 'alice', displayName: 'Alice' } };
}

/** Call in beforeEach; undo with `vi.unstubAllGlobals(); vi.restoreAllMocks(); vi.useRealTimers()`. */
export function pageEnv(): PageEnv {
  vi.useFakeTimers(FAKE_TIMERS);
  FakeSocket.all = [];
  vi.spyOn(Math, 'random').mockReturnValue(0);
  const answers = new Map<string, Answer[]>();
  const win = new EventTarget();
  const env: PageEnv = {
    fetched: [],
    answer: (path, ...list) => answers.set(path, list),
    window: win,
    session: session(),
    refreshed: [],
    failed: [],
    make: () => browserClient({
      session: () => env.session,
      store: (s) => (env.session = s),
      refreshed: (at) => env.refreshed.push(at),
      failed: (m) => env.failed.push(m),
    }),
  };
  vi.stubGlobal('location', { protocol: 'http:', host: 'gw.test' });
  vi.stubGlobal('window', win);
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('fetch', async (url: string, init: { method?: string; headers?: Record<string, string>; cache?: string } = {}) => {
    env.fetched.push({ url, method: init.method ?? 'GET', auth: init.headers?.authorization, ...(init.cache ? { cache: init.cache } : {}) });
    const list = answers.get(url) ?? [];
    const next = list.length > 1 ? list.shift()! : (list[0] ?? { status: 200 });
    if (next === 'offline') throw new TypeError('Failed to fetch');
    return { status: next.status, json: async () => next.body };
  });
  return env;
}
