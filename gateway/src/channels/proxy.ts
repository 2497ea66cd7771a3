/**
 * The `proxy` subscribe rule: the gateway asks the app's endpoint whether a user may join.
 *
 * Request: `POST url` `{"userId","username","action","connectionId"}` with a deadline
 * (`timeoutMs`), signed in `X-Gateway-Signature` when CHANNELS_PROXY_SECRET is set (the same
 * scheme as webhooks), so the app can tell the gateway's questions from anyone else's. Redirects
 * are never followed (the body is never sent anywhere but `url`).
 * Answer: 2xx allows, 403 refuses; anything else (3xx included), an error or no answer in time is
 * `unavailable`, never an allow. The body of the answer is never read.
 *
 * Bounds, so one user cannot take the node's questions for themselves:
 * - remembered answers, per (user, action): an allow for `cacheS`, a refusal for REFUSAL_CACHE_MS
 *   (a user repeating a refused join costs the app nothing); concurrent joins of the same
 *   (user, action) share one question;
 * - per user: QUESTIONS_PER_S fresh questions a second (burst QUESTIONS_BURST); at most
 *   IN_FLIGHT_PER_USER asked at once, the next WAITING_PER_USER waiting their turn (in order),
 *   at most PENDING_PER_CONNECTION of them from one connection; past these the join is
 *   `rate_limited` for that user only (a page joining a dozen proxy actions at once waits, a
 *   flood is refused);
 * - per node: MAX_IN_FLIGHT waiting questions; past it `unavailable` (reached only by many users).
 * An answer that arrives after `forget(userId)` is not remembered.
 */
import { sign, SIGNATURE_HEADER } from '../events/signature.js';
import type { Connection } from '../connection.js';
import { KeyedLimiter } from '../limits/buckets.js';
import type { Logger } from '../log.js';
import { limited, OK, refuse, unavailable, type Check } from './check.js';
import type { ProxyRule } from './policy.js';

export const MAX_IN_FLIGHT = 256;
export const IN_FLIGHT_PER_USER = 4;
export const WAITING_PER_USER = 16;
export const PENDING_PER_CONNECTION = 12;
export const QUESTIONS_PER_S = 5;
export const QUESTIONS_BURST = 20;
export const REFUSAL_CACHE_MS = 5000;
const MAX_REMEMBERED = 10_000;

export interface ProxyCheckOptions {
  log: Logger;
  fetch?: typeof fetch;
  /** CHANNELS_PROXY_SECRET: sign every question when set. */
  secret?: string;
  now?: () => number;
}

interface Answer { ok: boolean; until: number }

/** A Map that forgets its oldest entry past `max` (insertion order). */
function remember<K, V>(map: Map<K, V>, key: K, value: V, max = MAX_REMEMBERED): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

function count(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}

export function createProxyCheck(o: ProxyCheckOptions) {
  const doFetch = o.fetch ?? fetch;
  const now = o.now ?? Date.now;
  const answers = new Map<string, Answer>();
  const asking = new Map<string, Promise<Check>>();
  /** Per user with questions: how many are being asked, and the turns of those waiting. */
  const users = new Map<string, { asking: number; waiting: Array<() => void> }>();
  const byConnection = new Map<string, number>();
  /** Bumped by forget: an answer to a question asked before it is not remembered. */
  const generations = new Map<string, number>();
  const questions = new KeyedLimiter(QUESTIONS_PER_S, QUESTIONS_BURST);
  let inFlight = 0;

  function remembered(key: string, action: string): Check | undefined {
    const answer = answers.get(key);
    if (!answer) return undefined;
    if (answer.until <= now()) return void answers.delete(key);
    return answer.ok ? OK : refuse(`the application refused "${action}" for this user`);
  }

  async function ask(conn: Connection, action: string, proxy: ProxyRule): Promise<Check> {
    const body = JSON.stringify({ userId: conn.userId, username: conn.username, action, connectionId: conn.id });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (o.secret) headers[SIGNATURE_HEADER] = sign(o.secret, body);
    try {
      const res = await doFetch(proxy.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(proxy.timeoutMs) });
      await res.body?.cancel().catch(() => {});
      if (res.status === 403) return refuse(`the application refused "${action}" for this user`);
      if (res.status >= 300 && res.status < 400) return unavailable(`the authorization endpoint answered ${res.status}; redirects are not followed`);
      if (res.status < 200 || res.status >= 300) return unavailable(`the authorization endpoint answered ${res.status}`);
      return OK;
    } catch (err) {
      o.log.warn({ err: (err as Error).message, action }, 'authorization endpoint failed');
      return unavailable((err as Error).name === 'TimeoutError' ? 'the authorization endpoint did not answer in time' : 'the authorization endpoint is unreachable');
    }
  }

  /** The user's turn to ask: at once below IN_FLIGHT_PER_USER, else after the questions before it. */
  function turn(userId: string): Promise<void> | undefined {
    const user = users.get(userId) ?? { asking: 0, waiting: [] };
    users.set(userId, user);
    if (user.asking < IN_FLIGHT_PER_USER) {
      user.asking += 1;
      return undefined;
    }
    return new Promise((resolve) => user.waiting.push(resolve));
  }

  /** A question of `userId` is answered: the next waiting one asks (keeping the count), or one fewer asks. */
  function done(userId: string): void {
    const user = users.get(userId);
    if (!user) return;
    const next = user.waiting.shift();
    if (next) return next();
    user.asking -= 1;
    if (user.asking === 0) users.delete(userId);
  }

  /** Ask, counting the question against the user, the connection and the node; remember what came back. */
  async function question(conn: Connection, action: string, proxy: ProxyRule, key: string): Promise<Check> {
    const generation = generations.get(conn.userId) ?? 0;
    count(byConnection, conn.id, 1);
    inFlight += 1;
    try {
      await turn(conn.userId);
      try {
        const check = await ask(conn, action, proxy);
        const keep = check.ok ? proxy.cacheS * 1000 : check.code === 'forbidden' ? REFUSAL_CACHE_MS : 0;
        if (keep > 0 && (generations.get(conn.userId) ?? 0) === generation) remember(answers, key, { ok: check.ok, until: now() + keep });
        return check;
      } finally {
        done(conn.userId);
      }
    } finally {
      inFlight -= 1;
      count(byConnection, conn.id, -1);
      asking.delete(key);
    }
  }

  /** Whether `conn` may add a question now: a refusal for this user alone, or undefined. */
  function overShare(conn: Connection): Check | undefined {
    const user = users.get(conn.userId);
    if (user && user.waiting.length >= WAITING_PER_USER) return limited(`at most ${IN_FLIGHT_PER_USER + WAITING_PER_USER} authorization questions per user at once; retry when a join is answered`);
    if ((byConnection.get(conn.id) ?? 0) >= PENDING_PER_CONNECTION) return limited(`at most ${PENDING_PER_CONNECTION} authorization questions per connection at once`);
    if (inFlight >= MAX_IN_FLIGHT) return unavailable('too many authorization requests in flight on this node; retry');
    if (!questions.take(conn.userId)) return limited(`at most ${QUESTIONS_PER_S} new authorization questions a second per user; retry later`);
    return undefined;
  }

  return {
    check(conn: Connection, action: string, proxy: ProxyRule): Promise<Check> | Check {
      const key = `${conn.userId}\n${action}`;
      const known = remembered(key, action) ?? asking.get(key);
      if (known) return known;
      const refused = overShare(conn);
      if (refused) return refused;
      const pending = question(conn, action, proxy, key);
      asking.set(key, pending);
      return pending;
    },

    forget(userId: string): void {
      for (const key of answers.keys()) if (key.startsWith(`${userId}\n`)) answers.delete(key);
      remember(generations, userId, (generations.get(userId) ?? 0) + 1);
    },
  };
}
