/**
 * The channel policy: one table of namespaces, read from CHANNELS_FILE and validated at
 * start (a bad file stops the process with the key and the problem), resolved per action.
 *
 * An action's namespace is the part of its name before the first `:`; names without `:` are
 * in `default`. Per namespace:
 * - subscribe: who may join: `public` (any signed-in user), `claim` (the access token's
 *   `channels` claim matches the action: names or globs with `*`), `token` (the join carries a
 *   subscription token for this user and action, signed with the gateway's key), `proxy` (the
 *   app's endpoint answers 2xx);
 * - publish: `members` (any member) or `backend` (only POST /api/publish and the inbox);
 * - presence: room presence (`members` command, `room` events);
 * - history: `count/age` (as in HISTORY_ACTIONS, which stays a shorthand: it applies where the
 *   namespace sets none).
 * User-limited actions (`<name>#<id>,<id>`) admit only the listed users, whatever the namespace.
 * Without CHANNELS_FILE, `default` is public + members, without room presence: presence is
 * opt-in per namespace, as each change costs every member of the room a frame.
 */
import { z } from 'zod';
import type { HistoryPolicy } from '../broker/types.js';
import { parseHistoryRules, policyFor, type HistoryRule } from '../history/policy.js';

export type SubscribeRule = 'public' | 'claim' | 'token' | 'proxy';

export interface ProxyRule { url: string; timeoutMs: number; cacheS: number }

export interface Namespace {
  name: string;
  subscribe: SubscribeRule;
  publish: 'members' | 'backend';
  presence: boolean;
  history?: HistoryPolicy;
  proxy?: ProxyRule;
}

/** What applies to one action. */
export interface ChannelRules extends Namespace {
  history?: HistoryPolicy;
  /** User-limited actions: only these user ids may join and publish. */
  users?: string[];
}

export interface ChannelPolicy {
  namespaces: ReadonlyMap<string, Namespace>;
  /** The rules of `action` (a name the codec accepted). */
  rules(action: string): ChannelRules;
}

const NAMESPACE_NAME = /^[A-Za-z0-9_.\-/@]{1,64}$/;
const MAX_NAMESPACES = 1000;

const proxySchema = z.object({
  url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
  timeoutMs: z.number().int().min(50).max(10_000).default(2000),
  cacheS: z.number().int().min(0).max(300).default(0),
}).strict();

const namespaceSchema = z.object({
  subscribe: z.enum(['public', 'claim', 'token', 'proxy']).default('public'),
  publish: z.enum(['members', 'backend']).default('members'),
  presence: z.boolean().default(false),
  history: z.string().regex(/^\d{1,6}\/\d{1,9}(ms|s|m|h|d)$/, 'is count/age, e.g. 100/5m').optional(),
  proxy: proxySchema.optional(),
}).strict().superRefine((ns, ctx) => {
  if (ns.subscribe === 'proxy' && !ns.proxy) ctx.addIssue({ code: 'custom', message: 'subscribe "proxy" needs a "proxy": {"url"} object', path: ['proxy'] });
  if (ns.subscribe !== 'proxy' && ns.proxy) ctx.addIssue({ code: 'custom', message: '"proxy" is only for subscribe "proxy"', path: ['proxy'] });
});

const fileSchema = z.object({
  namespaces: z.record(z.string(), namespaceSchema).superRefine((n, ctx) => {
    const names = Object.keys(n);
    if (names.length > MAX_NAMESPACES) ctx.addIssue({ code: 'custom', message: `at most ${MAX_NAMESPACES} namespaces` });
    for (const name of names.filter((k) => !NAMESPACE_NAME.test(k))) {
      ctx.addIssue({ code: 'custom', path: [name], message: 'namespace names are 1-64 of A-Z a-z 0-9 _ . - / @' });
    }
  }),
}).strict();

export class PolicyError extends Error {
  override name = 'PolicyError';
}

/** The namespace of an action: before its first `:`, else `default`. */
export function namespaceOf(action: string): string {
  const base = action.split('#', 1)[0];
  const colon = base.indexOf(':');
  return colon > 0 ? base.slice(0, colon) : 'default';
}

/** The user ids an action is limited to (`name#a,b`), or undefined. */
export function limitedTo(action: string): string[] | undefined {
  const hash = action.indexOf('#');
  return hash < 0 ? undefined : action.slice(hash + 1).split(',');
}

function historyOf(text: string | undefined, name: string): HistoryPolicy | undefined {
  if (text === undefined) return undefined;
  try {
    return parseHistoryRules(`x=${text}`)[0].policy;
  } catch (err) {
    throw new PolicyError(`namespaces.${name}.history: ${(err as Error).message.replace('"x=', '"')}`);
  }
}

/**
 * Parse a CHANNELS_FILE's text; throws PolicyError naming the key and the problem.
 * `shorthand` is HISTORY_ACTIONS: it gives history to actions whose namespace sets none.
 */
export function parseChannelPolicy(text: string | undefined, shorthand: readonly HistoryRule[] = []): ChannelPolicy {
  const namespaces = new Map<string, Namespace>();
  if (text === undefined) {
    namespaces.set('default', { name: 'default', subscribe: 'public', publish: 'members', presence: false });
  } else {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new PolicyError(`not JSON: ${(err as Error).message}`);
    }
    const parsed = fileSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new PolicyError(`${issue.path.join('.') || 'file'}: ${issue.message}`);
    }
    for (const [name, ns] of Object.entries(parsed.data.namespaces)) {
      namespaces.set(name, { name, subscribe: ns.subscribe, publish: ns.publish, presence: ns.presence, history: historyOf(ns.history, name), proxy: ns.proxy });
    }
    if (!namespaces.has('default')) namespaces.set('default', { name: 'default', subscribe: 'public', publish: 'members', presence: false });
  }
  const fallback = namespaces.get('default')!;
  return {
    namespaces,
    rules(action) {
      const ns = namespaces.get(namespaceOf(action)) ?? fallback;
      return { ...ns, history: ns.history ?? policyFor(shorthand, action), users: limitedTo(action) };
    },
  };
}
