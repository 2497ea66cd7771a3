/**
 * The channel policy as a table: parsing CHANNELS_FILE (a bad file names the key and the
 * problem), resolving an action's rules (namespace, user-limited lists, history shorthand),
 * and matching a token's `channels` claim.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileClaim } from '../../src/channels/claims.js';
import { limitedTo, namespaceOf, parseChannelPolicy, PolicyError } from '../../src/channels/policy.js';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';
import { parseHistoryRules } from '../../src/history/policy.js';

const file = (namespaces: unknown) => JSON.stringify({ namespaces });
const errorOf = (text: string) => {
  try {
    parseChannelPolicy(text);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

describe('the channel policy file', () => {
  it('refuses a bad file, naming the key and the problem', () => {
    expect(errorOf('{not json')).toMatch(/^not JSON/);
    expect(errorOf(file({ team: { subscribe: 'friends' } }))).toMatch(/^namespaces\.team\.subscribe: /);
    expect(errorOf(file({ team: { subscribe: 'public', colour: 'blue' } }))).toMatch(/colour/);
    expect(errorOf(file({ 'bad name!': {} }))).toMatch(/namespace names/);
    expect(errorOf(file({ pay: { subscribe: 'proxy' } }))).toMatch(/^namespaces\.pay\.proxy: .*needs a "proxy"/);
    expect(errorOf(file({ pay: { subscribe: 'proxy', proxy: { url: 'ftp://x' } } }))).toMatch(/^namespaces\.pay\.proxy\.url: /);
    expect(errorOf(file({ news: { history: '100' } }))).toMatch(/^namespaces\.news\.history: /);
    expect(errorOf(file({ news: { history: '0/5m' } }))).toMatch(/^namespaces\.news\.history: .*count/);
    expect(errorOf(JSON.stringify({ namespaces: {}, extra: 1 }))).toMatch(/extra/);
  });

  it('stops the process at start through config, naming CHANNELS_FILE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-policy-'));
    const bad = join(dir, 'channels.json');
    writeFileSync(bad, file({ team: { subscribe: 'friends' } }));
    const env = { JWT_SECRET: 'x'.repeat(32) };
    expect(() => loadConfig({ ...env, CHANNELS_FILE: bad })).toThrow(ConfigError);
    expect(() => loadConfig({ ...env, CHANNELS_FILE: bad })).toThrow(/CHANNELS_FILE .*namespaces\.team\.subscribe/);
    expect(() => loadConfig({ ...env, CHANNELS_FILE: join(dir, 'missing.json') })).toThrow(/CHANNELS_FILE: no such file/);
  });

  it('without a file: default is public and members, room presence off (opt-in: it costs every member a frame per change)', () => {
    const rules = parseChannelPolicy(undefined).rules('anything:at-all');
    expect(rules).toMatchObject({ name: 'default', subscribe: 'public', publish: 'members', presence: false });
  });

  it('resolves the namespace before the first ":", unknown ones to default, and folds HISTORY_ACTIONS in', () => {
    const policy = parseChannelPolicy(file({ default: { presence: false }, news: { publish: 'backend', history: '5/1m' }, team: { subscribe: 'claim' } }), parseHistoryRules('chat*=3/1h,news:*=100/1d'));
    expect(policy.rules('news:tech')).toMatchObject({ name: 'news', publish: 'backend', history: { count: 5, ageMs: 60_000 } });
    expect(policy.rules('team:7:sub')).toMatchObject({ name: 'team', subscribe: 'claim', history: undefined });
    expect(policy.rules('chatroom')).toMatchObject({ name: 'default', history: { count: 3, ageMs: 3_600_000 } });
    expect(policy.rules('elsewhere:x')).toMatchObject({ name: 'default', subscribe: 'public', presence: false });
  });

  it('reads user-limited actions: the namespace before "#", the users after it', () => {
    expect(namespaceOf('dm#a,b')).toBe('default');
    expect(namespaceOf('team:7#a,b')).toBe('team');
    expect(limitedTo('dm#a,b')).toEqual(['a', 'b']);
    expect(limitedTo('plain')).toBeUndefined();
    expect(parseChannelPolicy(undefined).rules('notes#u1').users).toEqual(['u1']);
  });
});

describe('a token\'s channels claim', () => {
  it('matches exact names and globs, nothing else', () => {
    const claim = compileClaim(['team:7', 'org:acme:*', 'room-*-public', 'team:7:*', '*:readonly']);
    for (const yes of ['team:7', 'org:acme:x', 'org:acme:', 'room-12-public', 'team:7:chat', 'logs:readonly']) expect(claim.matches(yes), yes).toBe(true);
    for (const no of ['team:8', 'team:70', 'org:acmeX', 'room-12-private', 'readonly', 'x']) expect(claim.matches(no), no).toBe(false);
    expect(compileClaim([]).matches('team:7')).toBe(false);
  });

  it('treats regular-expression characters in patterns literally', () => {
    const claim = compileClaim(['a.b', 'x(y)*', 'w+/*']);
    expect(claim.matches('a.b')).toBe(true);
    expect(claim.matches('aXb')).toBe(false);
    expect(claim.matches('x(y)z')).toBe(true);
    expect(claim.matches('w+/q')).toBe(true);
    expect(claim.matches('ww/q')).toBe(false);
  });
});
