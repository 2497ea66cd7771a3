/**
 * Who may join and publish, per the channel policy. Every refusal names the rule that refused
 * and happens before anything is written (no membership, no history, no presence); the
 * connection stays open. A check that could not be made (key server or the app's endpoint
 * unreachable or too slow) is `unavailable`, never a silent allow.
 *
 * `proxy` namespaces ask the app (proxy.ts): the answer, allow or refusal, is remembered per
 * (user, action); one user's questions are bounded (a bucket of fresh questions, a few in flight
 * per user and per connection: past either, `rate_limited` for that user alone), so a user who
 * floods joins at a slow endpoint costs only themselves, never everyone's joins on the node.
 * `forget(userId)` drops the user's remembered answers: the server API's unsubscribe and
 * disconnect call it on every node, so the next join asks the app again.
 */
import { AuthError } from '../errors.js';
import type { Connection } from '../connection.js';
import type { Logger } from '../log.js';
import type { ChannelRules } from './policy.js';
import { OK, refuse, unavailable, type Check } from './check.js';
import { createProxyCheck, type ProxyCheckOptions } from './proxy.js';


/**
 * Checks a subscription token (auth/tokens.ts createGrantVerifier): the user and the one action it
 * grants. Rejects with AuthError (its reason tells a bad token from a key server that is down).
 */
export type GrantVerifier = (token: string) => Promise<{ userId: string; channel: string }>;

export interface AccessDeps extends Omit<ProxyCheckOptions, 'log'> {
  verifyGrant: GrantVerifier;
  log: Logger;
}

export interface Access {
  /** May `conn` join `action` (with the subscription `token`, for `token` namespaces)? */
  join(conn: Connection, action: string, rules: ChannelRules, token?: string): Promise<Check>;
  /** May `conn` (a member) publish to `action`? */
  publish(conn: Connection, rules: ChannelRules): Check;
  /** Forget what the app answered for `userId` (the server removed or disconnected the user). */
  forget(userId: string): void;
}

export function createAccess(d: AccessDeps): Access {
  const askApp = createProxyCheck(d);

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
        case 'proxy': return askApp.check(conn, action, rules.proxy!);
      }
    },
    publish(conn, rules) {
      if (rules.users && !rules.users.includes(conn.userId)) return refuse('only the users listed after "#" may publish to this action');
      if (rules.publish === 'backend') return refuse(`namespace ${rules.name} takes publishes from the backend only`);
      return OK;
    },
    forget: (userId) => askApp.forget(userId),
  };
}
