/**
 * Who may join and publish, per the channel policy. Every refusal names the rule that refused
 * and happens before anything is written (no membership, no history, no presence); the
 * connection stays open. A check that could not be made (key server or the app's endpoint
 * unreachable or too slow) is `unavailable`, never a silent allow.
 *
 * `proxy` namespaces ask the app: POST <url> {"userId","username","action","connectionId"}
 * with a deadline; 2xx allows, 403 refuses, anything else is `unavailable`. A positive answer
 * may be cached for `cacheS` seconds per (user, action). At most MAX_IN_FLIGHT questions wait
 * at once per node, so a hanging endpoint costs its callers a timeout, never the node.
 */
import type { ErrorCode } from '../../../shared/protocol.js';
import { AuthError } from '../errors.js';
import type { Connection } from '../connection.js';
import type { Logger } from '../log.js';
import type { ChannelRules, ProxyRule } from './policy.js';

export type Check = { ok: true } | { ok: false; code: Extract<ErrorCode, 'forbidden' | 'unavailable'>; message: string };

/**
 * Checks a subscription token (auth/tokens.ts createGrantVerifier): the user and the one action it
 * grants. Rejects with AuthError (its reason tells a bad token from a key server that is down).
 */
export type GrantVerifier = (token: string) => Promise<{ userId: string; channel: string }>;

export interface AccessDeps {
  verifyGrant: GrantVerifier;
  log: Logger;
  fetch?: typeof fetch;
}

const OK: Check = { ok: true };
const MAX_IN_FLIGHT = 256;
const MAX_CACHED = 10_000;

const refuse = (message: string): Check => ({ ok: false, code: 'forbidden', message });
const unavailable = (message: string): Check => ({ ok: false, code: 'unavailable', message });

export interface Access {
  /** May `conn` join `action` (with the subscription `token`, for `token` namespaces)? */
  join(conn: Connection, action: string, rules: ChannelRules, token?: string): Promise<Check>;
  /** May `conn` (a member) publish to `action`? */
  publish(conn: Connection, rules: ChannelRules): Check;
}

export function createAccess(d: AccessDeps): Access {
  const doFetch = d.fetch ?? fetch;
  const allowed = new Map<string, number>();
  let inFlight = 0;

  async function askApp(conn: Connection, action: string, proxy: ProxyRule): Promise<Check> {
    const key = `${conn.userId}\n${action}`;
    if ((allowed.get(key) ?? 0) > Date.now()) return OK;
    if (inFlight >= MAX_IN_FLIGHT) return unavailable('too many authorization requests in flight; retry');
    inFlight += 1;
    try {
      const res = await doFetch(proxy.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: conn.userId, username: conn.username, action, connectionId: conn.id }),
        signal: AbortSignal.timeout(proxy.timeoutMs),
      });
      await res.body?.cancel();
      if (res.status === 403) return refuse(`the application refused "${action}" for this user`);
      if (res.status < 200 || res.status >= 300) return unavailable(`the authorization endpoint answered ${res.status}`);
      if (proxy.cacheS > 0) {
        if (allowed.size >= MAX_CACHED) allowed.delete(allowed.keys().next().value!);
        allowed.set(key, Date.now() + proxy.cacheS * 1000);
      }
      return OK;
    } catch (err) {
      d.log.warn({ err: (err as Error).message, action }, 'authorization endpoint failed');
      return unavailable((err as Error).name === 'TimeoutError' ? 'the authorization endpoint did not answer in time' : 'the authorization endpoint is unreachable');
    } finally {
      inFlight -= 1;
    }
  }

  async function checkGrant(conn: Connection, action: string, token: string | undefined): Promise<Check> {
    if (!token) return refuse(`joining "${action}" needs a subscription token ("token" in the join)`);
    try {
      const grant = await d.verifyGrant(token);
      if (grant.userId !== conn.userId) return refuse('the subscription token is for another user');
      if (grant.channel !== action) return refuse(`the subscription token is for "${grant.channel.slice(0, 64)}", not this action`);
      return OK;
    } catch (err) {
      const reason = err instanceof AuthError ? err.reason : 'invalid';
      if (reason === 'timeout' || reason === 'unavailable') return unavailable('the key server is unreachable; retry');
      return refuse(`the subscription token is ${reason === 'expired' ? 'expired' : 'invalid'}`);
    }
  }

  return {
    async join(conn, action, rules, token) {
      if (rules.users && !rules.users.includes(conn.userId)) return refuse('only the users listed after "#" may join this action');
      switch (rules.subscribe) {
        case 'public': return OK;
        case 'claim': return conn.channels?.matches(action) ? OK : refuse(`your token's "channels" claim does not include "${action}" (namespace ${rules.name})`);
        case 'token': return checkGrant(conn, action, token);
        case 'proxy': return askApp(conn, action, rules.proxy!);
      }
    },
    publish(conn, rules) {
      if (rules.users && !rules.users.includes(conn.userId)) return refuse('only the users listed after "#" may publish to this action');
      if (rules.publish === 'backend') return refuse(`namespace ${rules.name} takes publishes from the backend only`);
      return OK;
    },
  };
}
