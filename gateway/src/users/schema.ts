/**
 * The user directory's SQLite file: its schema, migrated on open (version in
 * `PRAGMA user_version`), and how it is opened.
 * - `users`: one row per user; `username` is unique case-insensitively (NOCASE).
 * - `users_display_name`: NOCASE index, for prefix search on display names.
 * - `users_fts`: external-content FTS5 index with the `trigram` tokenizer over username and
 *   display name, kept in sync by triggers; keyed on the implicit rowid of `users`, so after a
 *   VACUUM run `INSERT INTO users_fts(users_fts) VALUES('rebuild')`.
 * - `avatars` (2): profile pictures; `token_version` (3): stamped into tokens, bumped to end
 *   every session of a user.
 * - `is_admin` (4): 1 for operators, who may sign in at /admin (api/admin-auth.ts); a partial
 *   index over the few who are, so "is there any operator" is one index probe.
 */
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     username TEXT NOT NULL UNIQUE COLLATE NOCASE,
     display_name TEXT NOT NULL,
     password_hash TEXT,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX users_display_name ON users (display_name COLLATE NOCASE);
   CREATE VIRTUAL TABLE users_fts USING fts5(
     username, display_name, content='users', content_rowid='rowid', tokenize='trigram'
   );
   CREATE TRIGGER users_fts_insert AFTER INSERT ON users BEGIN
     INSERT INTO users_fts (rowid, username, display_name) VALUES (new.rowid, new.username, new.display_name);
   END;
   CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
     INSERT INTO users_fts (users_fts, rowid, username, display_name)
       VALUES ('delete', old.rowid, old.username, old.display_name);
   END;
   CREATE TRIGGER users_fts_update AFTER UPDATE OF username, display_name ON users BEGIN
     INSERT INTO users_fts (users_fts, rowid, username, display_name)
       VALUES ('delete', old.rowid, old.username, old.display_name);
     INSERT INTO users_fts (rowid, username, display_name) VALUES (new.rowid, new.username, new.display_name);
   END;`,
  // 2: profile pictures, versioned so their URLs can be cached forever.
  `ALTER TABLE users ADD COLUMN avatar_version INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE avatars (
     user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
     type TEXT NOT NULL,
     bytes BLOB NOT NULL
   );`,
  // 3: a version per user stamped into tokens; bumped by a password change, so older tokens stop working.
  `ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;`,
  // 4: operators (the /admin page); off for every existing user.
  `ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX users_admins ON users (username) WHERE is_admin = 1;`,
];

/**
 * The file holds password hashes: it is created readable by its owner only (0600, its folder
 * 0700 when we create it), and SQLite gives its -wal and -shm files the same mode. An existing
 * file that others can read is narrowed to 0600 when we own it.
 */
function ownerOnly(path: string): void {
  if (path === ':memory:' || path === '') return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, '', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) chmodSync(path, 0o600);
  }
}

export function openDatabase(path: string): Database.Database {
  ownerOnly(path);
  const db = new Database(path);
  db.pragma('busy_timeout = 5000'); // first, so a concurrent opener waits instead of failing
  useWal(db);
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}

/**
 * WAL mode, set once per file. Switching needs the file to itself, and SQLite answers SQLITE_BUSY
 * at once, without the busy handler, when another process opens the same fresh file at that
 * moment (two gateways starting together): wait a little and look again, for up to 5 s.
 */
function useWal(db: Database.Database): void {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      if (db.pragma('journal_mode', { simple: true }) !== 'wal') db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!(err as { code?: string }).code?.startsWith('SQLITE_BUSY') || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20); // startup only: a synchronous pause
    }
  }
}

/**
 * Apply pending migrations, one write transaction each. The version is read inside the
 * transaction, so two processes opening a fresh file at once (two gateways, a gateway and
 * the CLI) never both apply the same step: the second waits for the lock, then sees it done.
 */
function migrate(db: Database.Database): void {
  for (;;) {
    const applied = db.transaction(() => {
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new Error(`user database schema version ${version} is newer than this gateway (${MIGRATIONS.length})`);
      }
      if (version === MIGRATIONS.length) return false;
      db.exec(MIGRATIONS[version]);
      db.pragma(`user_version = ${version + 1}`);
      return true;
    }).immediate();
    if (!applied) return;
  }
}

