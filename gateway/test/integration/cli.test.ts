/**
 * The command-line tools `users` and `token` end to end (their pure parsing is in
 * unit/cli.test.ts), run as the compiled dist/ scripts (built once by the vitest globalSetup) against a database
 * in a temporary directory.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readOrCreateDevSecret, devSecretFile } from '../../src/auth/dev-secret.js';
import { createGrantVerifier, createVerifier } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const script = (name: string) => join(root, 'dist', 'gateway', 'src', 'cli', `${name}.js`);

interface Run { code: number; stdout: string; stderr: string }

function run(name: 'users' | 'token', args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script(name), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }));
  });
}

const lines = (text: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('users and token CLIs', () => {
  let dir: string;
  let env: Record<string, string>;
  const users = (...args: string[]) => run('users', args, env);
  const token = (...args: string[]) => run('token', args, env);

  /** Accounts added straight through the directory, for tests about something else. */
  const seedDirectory = (accounts: Array<{ username: string; displayName?: string }>) => {
    const directory = new SqliteUserDirectory(env.DB_PATH);
    try {
      for (const a of accounts) directory.add(a);
    } finally {
      directory.close();
    }
  };

  beforeAll(() => {
    if (!existsSync(script('users')) || !existsSync(script('token'))) {
      throw new Error('dist/ CLIs missing: run through vitest (its globalSetup builds) or `npm run build`');
    }
  });
  // A database of its own for every test: none depends on what another one added.
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
    env = { DB_PATH: join(dir, 'db', 'users.db'), NODE_ENV: 'test' };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('add prints one JSON line with id, username and display name', async () => {
    const r = await users('add', 'alice', '--name', 'Alice Liddell', '--password', 'rabbit hole');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const out = lines(r.stdout);
    expect(out).toHaveLength(1);
    expect(Object.keys(out[0]).sort()).toEqual(['displayName', 'id', 'username']);
    expect(out[0]).toMatchObject({ username: 'alice', displayName: 'Alice Liddell' });
  });

  it('add refuses a taken (any case) or invalid username with exit 1 and a message', async () => {
    await users('add', 'bob');
    const taken = await users('add', 'BOB');
    expect(taken).toMatchObject({ code: 1, stdout: '' });
    expect(taken.stderr).toMatch(/taken/);
    const invalid = await users('add', 'no spaces');
    expect(invalid).toMatchObject({ code: 1, stdout: '' });
    expect(invalid.stderr).toMatch(/username must be/);
  });

  it('refuses unknown commands and options with the usage', async () => {
    for (const args of [[], ['frobnicate'], ['add', 'carol', '--colour', 'red'], ['add']]) {
      const r = await users(...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/usage: npm run users/);
    }
  });

  it('adds an operator with --admin, grants and revokes the flag, and lists operators as such', async () => {
    const root = lines((await users('add', 'root', '--password', 'pw-root', '--admin')).stdout)[0];
    expect(root).toMatchObject({ username: 'root', admin: true });
    await users('add', 'alice');
    expect(lines((await users('admin', 'alice', 'on')).stdout)[0]).toMatchObject({ username: 'alice', admin: true });
    const off = lines((await users('admin', 'root', 'off')).stdout)[0];
    expect(off).toMatchObject({ username: 'root' });
    expect(off.admin).toBeUndefined();
    const listed = lines((await users('list')).stdout);
    expect(listed.map((u) => [u.username, u.admin ?? false])).toEqual([['alice', true], ['root', false]]);
    expect(await users('admin', 'nobody', 'on')).toMatchObject({ code: 1, stdout: '' });
    const bad = await users('admin', 'alice', 'maybe');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/on\|off/);
  });

  it('passwd sets a password the directory accepts', async () => {
    expect((await users('add', 'alice', '--name', 'Alice Liddell', '--password', 'rabbit hole')).code).toBe(0);
    await users('add', 'dave');
    expect((await users('passwd', 'dave', '--password', 's3cret')).code).toBe(0);
    expect((await users('passwd', 'nobody', '--password', 'x')).code).toBe(1);
    const directory = new SqliteUserDirectory(env.DB_PATH);
    try {
      expect((await directory.checkPassword('dave', 's3cret'))?.username).toBe('dave');
      expect((await directory.checkPassword('alice', 'rabbit hole'))?.displayName).toBe('Alice Liddell');
    } finally {
      directory.close();
    }
  });

  it('seed adds numbered users in one go; list prints them one per line', async () => {
    seedDirectory([{ username: 'alice' }, { username: 'bob' }, { username: 'dave' }]);
    const seeded = await users('seed', '2500', '--prefix', 'member');
    expect(seeded.code).toBe(0);
    expect(lines(seeded.stdout)[0]).toMatchObject({ added: 2500, prefix: 'member' });
    const first = lines((await users('list', '--limit', '3')).stdout);
    expect(first.map((u) => u.username)).toEqual(['alice', 'bob', 'dave']);
    const all = lines((await users('list')).stdout);
    expect(all.filter((u) => String(u.username).startsWith('member'))).toHaveLength(2500);
    expect(all.find((u) => u.username === 'member42')).toMatchObject({ displayName: 'Member 42' });
    expect((await users('seed', '10', '--prefix', 'member')).code).toBe(1); // member1 exists: all or none
  });

  it('token signs for a directory user with the shared dev secret', async () => {
    seedDirectory([{ username: 'alice', displayName: 'Alice Liddell' }]);
    const alice = lines((await users('list', '--limit', '1')).stdout)[0];
    const r = await token('alice', '--ttl', '15m');
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(existsSync(devSecretFile(env.DB_PATH))).toBe(true);
    const verify = createVerifier(loadConfig(env, readOrCreateDevSecret).auth);
    const identity = await verify(r.stdout.trim());
    expect(identity).toMatchObject({ userId: alice.id, name: 'Alice Liddell' });
    expect(identity.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(890);
    expect(identity.exp - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(900);
  });

  it('token refuses an unknown user, but --sub signs for any id', async () => {
    const unknown = await token('ghost');
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toMatch(/unknown user/);
    const r = await token('--sub', 'external-42', '--name', 'Ext', '--ttl', '30');
    expect(r.code).toBe(0);
    const identity = await createVerifier(loadConfig(env, readOrCreateDevSecret).auth)(r.stdout.trim());
    expect(identity).toMatchObject({ userId: 'external-42', name: 'Ext' });
  });

  it('token uses JWT_SECRET when configured', async () => {
    const secret = 'x'.repeat(40);
    const r = await run('token', ['--sub', 'u1'], { ...env, JWT_SECRET: secret });
    expect(r.code).toBe(0);
    const auth = loadConfig({ ...env, JWT_SECRET: secret }).auth;
    expect((await createVerifier(auth)(r.stdout.trim())).userId).toBe('u1');
    await expect(createVerifier(loadConfig(env, readOrCreateDevSecret).auth)(r.stdout.trim())).rejects.toThrow();
  });

  it('token signs a channels claim, or a subscription token that is no access token', async () => {
    const auth = loadConfig(env, readOrCreateDevSecret).auth;
    const claim = await token('--sub', 'u7', '--channels', 'team:7, team:8*');
    expect((await createVerifier(auth)(claim.stdout.trim())).channels).toEqual(['team:7', 'team:8*']);
    const sub = await token('--sub', 'u7', '--channel', 'private:x', '--ttl', '5m');
    expect(sub.code).toBe(0);
    expect(await createGrantVerifier(auth)(sub.stdout.trim())).toMatchObject({ userId: 'u7', channel: 'private:x' });
    await expect(createVerifier(auth)(sub.stdout.trim())).rejects.toThrow();
    expect((await token('--sub', 'u7', '--channel', 'a', '--channels', 'b')).code).toBe(1);
  });

  it('prints configuration errors and exits 1', async () => {
    const r = await run('token', ['alice'], { ...env, NODE_ENV: 'production' });
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(/JWT_SECRET or JWKS_URL is required/);
    const bad = await run('users', ['list'], { ...env, PORT: 'nope' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/PORT/);
  });
});
