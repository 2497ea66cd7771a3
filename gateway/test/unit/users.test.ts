/**
 * The SQLite user directory: accounts, lookups, ranked search and passwords, on a real
 * database file in a temporary directory. (Several processes opening a fresh file at once:
 * integration/users-migration.test.ts.)
 */
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';
import { DirectoryError } from '../../src/users/types.js';

let dir: string;
let users: SqliteUserDirectory;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'users-test-'));
  users = new SqliteUserDirectory(join(dir, 'nested', 'users.db'));
});

afterEach(() => {
  users.close();
  rmSync(dir, { recursive: true, force: true });
});

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof DirectoryError) return err.reason;
    throw err;
  }
  return undefined;
}

const names = (list: { username: string }[]) => list.map((u) => u.username);

describe('accounts', () => {
  it('adds a user with a generated id and a display name defaulting to the username', () => {
    const alice = users.add({ username: 'alice' });
    expect(alice).toMatchObject({ username: 'alice', displayName: 'alice' });
    expect(alice.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(alice.createdAt).toBeGreaterThan(0);
    expect(users.add({ username: 'bob', displayName: '  Bob Builder ' }).displayName).toBe('Bob Builder');
  });

  it('refuses a username taken in any letter case', () => {
    users.add({ username: 'Alice' });
    expect(reasonOf(() => users.add({ username: 'alice' }))).toBe('conflict');
    expect(reasonOf(() => users.add({ username: 'ALICE' }))).toBe('conflict');
  });

  it('refuses invalid usernames and display names', () => {
    for (const username of ['a', 'x'.repeat(33), 'has space', 'bad/slash', 'emoji😀', '']) {
      expect(reasonOf(() => users.add({ username })), username).toBe('invalid');
    }
    expect(reasonOf(() => users.add({ username: 'carol', displayName: '   ' }))).toBe('invalid');
    expect(reasonOf(() => users.add({ username: 'carol', displayName: 'x'.repeat(65) }))).toBe('invalid');
    expect(users.add({ username: 'carol', displayName: 'x'.repeat(64) }).displayName).toHaveLength(64);
  });

  it('finds users by id and by username, case-insensitively', () => {
    const alice = users.add({ username: 'Alice', displayName: 'Alice A.' });
    expect(users.byId(alice.id)).toEqual(alice);
    expect(users.byUsername('aLiCe')).toEqual(alice);
    expect(users.byId('nope')).toBeUndefined();
    expect(users.byUsername('nobody')).toBeUndefined();
  });

  it('finds many users by id in one call, leaving out unknown ids and repeats', () => {
    const alice = users.add({ username: 'alice', displayName: 'Alice A.' });
    const bob = users.add({ username: 'bob', displayName: 'Bob B.' });
    const found = users.byIds([bob.id, 'nope', alice.id, bob.id, '"); DROP TABLE users; --']);
    expect(found.sort((x, y) => x.username.localeCompare(y.username))).toEqual([alice, bob]);
    expect(users.byIds([])).toEqual([]);
  });

  it('lists users in username order with limit and offset', () => {
    for (const u of ['carol', 'alice', 'bob']) users.add({ username: u });
    expect(names(users.list(10, 0))).toEqual(['alice', 'bob', 'carol']);
    expect(names(users.list(1, 1))).toEqual(['bob']);
  });

  it('adds many users in one transaction, all or none', () => {
    const added = users.addMany([{ username: 'u1' }, { username: 'u2', displayName: 'Two' }]);
    expect(added.map((u) => u.displayName)).toEqual(['u1', 'Two']);
    expect(reasonOf(() => users.addMany([{ username: 'u3' }, { username: 'U1' }]))).toBe('conflict');
    expect(users.byUsername('u3')).toBeUndefined();
  });

  it('keeps its data and schema version across reopening', () => {
    const alice = users.add({ username: 'alice' });
    users.close();
    users = new SqliteUserDirectory(join(dir, 'nested', 'users.db'));
    expect(users.byId(alice.id)).toEqual(alice);
    const raw = new Database(join(dir, 'nested', 'users.db'), { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(4);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
  });

  it('keeps the file (password hashes) and its WAL readable by its owner only, narrowing an existing file', () => {
    users.add({ username: 'alice', password: 'pw' });
    const file = join(dir, 'nested', 'users.db');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) expect(statSync(f).mode & 0o777, f).toBe(0o600);
    users.close();
    chmodSync(file, 0o644);
    users = new SqliteUserDirectory(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('operators', () => {
  it('has none until a user is added as one or granted the flag, and loses them when it is revoked', () => {
    const alice = users.add({ username: 'alice' });
    expect(alice.admin).toBe(false);
    expect(users.hasAdmins()).toBe(false);
    const root = users.add({ username: 'root', admin: true });
    expect(users.byId(root.id)?.admin).toBe(true);
    expect(users.hasAdmins()).toBe(true);
    expect(users.setAdmin('ALICE', true).admin).toBe(true);
    users.setAdmin('root', false);
    expect(users.hasAdmins()).toBe(true);
    users.setAdmin('alice', false);
    expect(users.hasAdmins()).toBe(false);
    expect(reasonOf(() => users.setAdmin('ghost', true))).toBe('not_found');
  });

  it('carries the flag on every read of a user: by id, by name, lists, search and a password check', async () => {
    users.add({ username: 'root', password: 'pw', admin: true });
    expect(users.byUsername('root')?.admin).toBe(true);
    expect(users.list(10, 0)[0].admin).toBe(true);
    expect(users.search('roo', 5)[0].admin).toBe(true);
    expect(users.byIds([users.byUsername('root')!.id])[0].admin).toBe(true);
    expect((await users.checkPassword('root', 'pw'))?.admin).toBe(true);
  });

  it('migrates a file made before the flag: every existing user is not an operator', () => {
    const file = join(dir, 'old.db');
    const old = new Database(file);
    old.exec(`CREATE TABLE users (id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE COLLATE NOCASE, display_name TEXT NOT NULL,
      password_hash TEXT, created_at INTEGER NOT NULL)`);
    old.prepare('INSERT INTO users VALUES (?, ?, ?, NULL, ?)').run('u1', 'alice', 'Alice', 1);
    old.close();
    // Version 0 with a users table would run migration 1 again: mark it as version 1 with the rest of that step in place.
    const raw = new Database(file);
    raw.exec(`CREATE INDEX users_display_name ON users (display_name COLLATE NOCASE);
      CREATE VIRTUAL TABLE users_fts USING fts5(username, display_name, content='users', content_rowid='rowid', tokenize='trigram');
      INSERT INTO users_fts(users_fts) VALUES('rebuild');`);
    raw.pragma('user_version = 1');
    raw.close();
    const migrated = new SqliteUserDirectory(file);
    try {
      expect(migrated.byId('u1')).toMatchObject({ username: 'alice', admin: false, tokenVersion: 0 });
      expect(migrated.hasAdmins()).toBe(false);
    } finally {
      migrated.close();
    }
  });
});

describe('search', () => {
  beforeEach(() => {
    users.addMany([
      { username: 'annabel', displayName: 'Zed Annabel' },
      { username: 'anna', displayName: 'Anna Smith' },
      { username: 'zoe', displayName: 'Annie Z' },
      { username: 'joanna', displayName: 'Jo' },
      { username: 'bob', displayName: 'Bob Ann' },
      { username: 'a_b', displayName: 'Under Score' },
      { username: 'axb', displayName: '100% real' },
      { username: 'quote', displayName: 'Say "ann" NEAR(x) *' },
    ]);
  });

  it('ranks username prefixes, then display-name prefixes, then substrings, each alphabetically', () => {
    expect(names(users.search('ann', 20))).toEqual(['anna', 'annabel', 'zoe', 'bob', 'joanna', 'quote']);
  });

  it('is case-insensitive and ignores surrounding whitespace', () => {
    expect(names(users.search('  ANNA ', 20))).toEqual(['anna', 'annabel', 'joanna']);
  });

  it('matches short queries by prefix only', () => {
    expect(names(users.search('an', 20))).toEqual(['anna', 'annabel', 'zoe']);
    expect(names(users.search('j', 20))).toEqual(['joanna']);
    expect(names(users.search('b', 20))).toEqual(['bob']);
  });

  it('treats LIKE wildcards and FTS syntax as plain text', () => {
    expect(names(users.search('a_', 20))).toEqual(['a_b']);
    expect(names(users.search('a_b', 20))).toEqual(['a_b']);
    expect(names(users.search('%', 20))).toEqual([]);
    expect(names(users.search('0% r', 20))).toEqual(['axb']);
    expect(names(users.search('"ann"', 20))).toEqual(['quote']);
    expect(names(users.search('NEAR(x) *', 20))).toEqual(['quote']);
    expect(names(users.search('\\', 20))).toEqual([]);
  });

  it('returns nobody for a blank query or one longer than any name', () => {
    expect(users.search('', 20)).toEqual([]);
    expect(users.search('   ', 20)).toEqual([]);
    expect(users.search('a'.repeat(65), 20)).toEqual([]);
  });

  it('clamps the limit to 1..100', () => {
    expect(users.search('ann', 2)).toHaveLength(2);
    expect(users.search('ann', 0)).toHaveLength(1);
    expect(users.search('ann', -5)).toHaveLength(1);
    expect(users.search('ann', Number.NaN)).toHaveLength(1);
  });

  it('follows renames and deletions through the FTS triggers', () => {
    const raw = new Database(join(dir, 'nested', 'users.db'));
    raw.prepare("UPDATE users SET display_name = 'Plain' WHERE username = 'bob'").run();
    raw.prepare("DELETE FROM users WHERE username = 'joanna'").run();
    raw.close();
    expect(names(users.search('ann', 20))).toEqual(['anna', 'annabel', 'zoe', 'quote']);
    expect(names(users.search('lai', 20))).toEqual(['bob']);
  });
});

describe('search over thousands of users', () => {
  beforeEach(() => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ username: `user${i + 1}`, displayName: `Member ${i + 1}` }));
    users.addMany(many);
  });

  it('returns the first page of username prefix matches in order', () => {
    expect(names(users.search('user12', 5))).toEqual(['user12', 'user120', 'user1200', 'user1201', 'user1202']);
    expect(users.search('user', 1000)).toHaveLength(100);
  });

  it('finds substrings and display-name prefixes', () => {
    expect(names(users.search('4999', 10))).toEqual(['user4999']);
    expect(names(users.search('member 4999', 10))).toEqual(['user4999']);
    expect(names(users.search('ser49', 3))).toEqual(['user49', 'user490', 'user4900']);
  });
});

describe('passwords', () => {
  it('checks a password that was set at creation or later', async () => {
    const alice = users.add({ username: 'alice', password: 'correct horse' });
    expect(await users.checkPassword('ALICE', 'correct horse')).toEqual(alice);
    expect(await users.checkPassword('alice', 'wrong')).toBeUndefined();
    users.setPassword('alice', 'battery staple');
    expect(await users.checkPassword('alice', 'correct horse')).toBeUndefined();
    expect(await users.checkPassword('alice', 'battery staple')).toEqual({ ...alice, tokenVersion: 1 });
  });

  it('ends every session of a user on a password change or a revoke (the token version grows)', () => {
    const alice = users.add({ username: 'alice', password: 'pw' });
    expect(alice.tokenVersion).toBe(0);
    users.setPassword('alice', 'new');
    expect(users.byId(alice.id)?.tokenVersion).toBe(1);
    users.revokeTokens('alice');
    expect(users.byId(alice.id)?.tokenVersion).toBe(2);
    expect(reasonOf(() => users.revokeTokens('ghost'))).toBe('not_found');
  });

  it('checks passwords off the event loop: a timer fires while a check runs', async () => {
    users.add({ username: 'alice', password: 'pw' });
    const order: string[] = [];
    const check = users.checkPassword('alice', 'pw').then(() => order.push('check'));
    await new Promise((r) => setTimeout(r, 0)).then(() => order.push('timer'));
    await check;
    expect(order).toEqual(['timer', 'check']);
  });

  it('refuses checks past its queue at once, and keeps serving the ones it took', async () => {
    const small = new SqliteUserDirectory(':memory:', { concurrentPasswordChecks: 1, queuedPasswordChecks: 2 });
    small.add({ username: 'alice', password: 'pw' });
    const checks = Array.from({ length: 5 }, () => small.checkPassword('alice', 'pw').then((u) => u?.username, (e: Error) => e.name));
    const results = await Promise.all(checks);
    small.close();
    expect(results).toEqual(['alice', 'alice', 'alice', 'PasswordChecksBusy', 'PasswordChecksBusy']); // 1 running + 2 queued
  });

  it('stores scrypt hashes with parameters and salt, never the password', () => {
    users.add({ username: 'alice', password: 'secret' });
    users.add({ username: 'bob', password: 'secret' });
    const raw = new Database(join(dir, 'nested', 'users.db'), { readonly: true });
    const hashes = raw.prepare('SELECT password_hash AS h FROM users ORDER BY username').all() as { h: string }[];
    raw.close();
    for (const { h } of hashes) expect(h).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
    expect(hashes[0].h).not.toBe(hashes[1].h);
  });

  it('answers undefined for unknown users and users without a password, after similar work', async () => {
    users.add({ username: 'nopass' });
    users.add({ username: 'alice', password: 'pw' });
    const time = async (fn: () => Promise<unknown>) => {
      const start = performance.now();
      expect(await fn()).toBeUndefined();
      return performance.now() - start;
    };
    await users.checkPassword('ghost', 'warm-up');
    // One scrypt (N=16384, r=8: tens of ms) each, where a bare lookup takes microseconds.
    // Only a lower bound: a busy machine makes every call slower, never faster.
    expect(await time(() => users.checkPassword('alice', 'nope'))).toBeGreaterThan(5);
    expect(await time(() => users.checkPassword('ghost', 'pw'))).toBeGreaterThan(5);
    expect(await time(() => users.checkPassword('nopass', ''))).toBeGreaterThan(5);
  });

  it('refuses an empty password and an unknown user', () => {
    users.add({ username: 'alice' });
    expect(reasonOf(() => users.setPassword('alice', ''))).toBe('invalid');
    expect(reasonOf(() => users.setPassword('ghost', 'pw'))).toBe('not_found');
  });
});
