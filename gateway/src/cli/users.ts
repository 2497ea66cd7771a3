/**
 * The user directory from the command line (`npm run users -- <command>`), on the database
 * at DB_PATH. Output is JSON, one document per line, on stdout; errors go to stderr with exit 1.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SqliteUserDirectory } from '../users/sqlite.js';
import type { NewUser, User } from '../users/types.js';
import { parseCount, seedDisplayName, UsageError } from './parse.js';
import { loadCliConfig, printJson, runCli } from './run.js';

const USAGE = `usage: npm run users -- <command>
  add <username> [--name "Display Name"] [--password <pw>] [--admin]
                                                             prints {"id","username","displayName"} (and "admin":true)
  list [--limit N]                                           one user per line, by username ("admin":true for operators)
  admin <username> on|off                                    grants or revokes the operator flag (the /admin page)
  passwd <username> --password <pw>                          also ends the user's sessions (older tokens are refused)
  revoke <username>                                          ends every session of the user (sign out everywhere)
  seed <count> [--prefix user]                               adds <prefix>1..<prefix><count> in one transaction`;

const PAGE = 1000;
const MAX_SEED = 1_000_000;

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;
type Command = (users: SqliteUserDirectory, positionals: string[], values: Values) => void;

const text = { type: 'string' } as const;
const flag = { type: 'boolean' } as const;

const COMMANDS: Record<string, { options: Options; args: number; run: Command }> = {
  add: { options: { name: text, password: text, admin: flag }, args: 1, run: add },
  admin: { options: {}, args: 2, run: admin },
  list: { options: { limit: text }, args: 0, run: list },
  passwd: { options: { password: text }, args: 1, run: passwd },
  revoke: { options: {}, args: 1, run: revoke },
  seed: { options: { prefix: text }, args: 1, run: seed },
};

/** A user's public summary; `admin` only for operators, so other lines read as before the flag existed. */
const summary = (u: User) => ({ id: u.id, username: u.username, displayName: u.displayName, ...(u.admin ? { admin: true } : {}) });
const textOf = (v: string | boolean | undefined) => (typeof v === 'string' ? v : undefined);

function add(users: SqliteUserDirectory, [username]: string[], values: Values): void {
  printJson(summary(users.add({ username, displayName: textOf(values.name), password: textOf(values.password), admin: values.admin === true })));
}

/** `admin alice on` / `admin alice off`: an operator signed in at /admin loses the page at their next request. */
function admin(users: SqliteUserDirectory, [username, state]: string[]): void {
  if (state !== 'on' && state !== 'off') throw new UsageError('admin takes <username> on|off');
  printJson(summary(users.setAdmin(username, state === 'on')));
}

function list(users: SqliteUserDirectory, _args: string[], values: Values): void {
  const limit = typeof values.limit !== 'string' ? Number.MAX_SAFE_INTEGER : parseCount(values.limit, '--limit', 1, 1e9);
  for (let offset = 0; offset < limit; offset += PAGE) {
    const page = users.list(Math.min(PAGE, limit - offset), offset);
    for (const u of page) printJson({ ...summary(u), createdAt: u.createdAt });
    if (page.length < PAGE) return;
  }
}

function passwd(users: SqliteUserDirectory, [username]: string[], values: Values): void {
  if (typeof values.password !== 'string') throw new UsageError('passwd needs --password');
  users.setPassword(username, values.password);
  process.stderr.write(`password set for ${username}\n`);
}

function revoke(users: SqliteUserDirectory, [username]: string[]): void {
  users.revokeTokens(username);
  process.stderr.write(`sessions of ${username} ended: tokens issued before now are refused\n`);
}

/** `seed 100000` adds user1..user100000 ("User 1"...) in one transaction, without passwords. */
function seed(users: SqliteUserDirectory, [countText]: string[], values: Values): void {
  const count = parseCount(countText, 'count', 1, MAX_SEED);
  const prefix = textOf(values.prefix) ?? 'user';
  const started = performance.now();
  const batch: NewUser[] = Array.from({ length: count }, (_, i) => ({
    username: `${prefix}${i + 1}`,
    displayName: seedDisplayName(prefix, i + 1),
  }));
  users.addMany(batch);
  printJson({ added: count, prefix, ms: Math.round(performance.now() - started) });
}

runCli(USAGE, (argv) => {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) throw new UsageError(name === undefined ? 'missing command' : `unknown command ${JSON.stringify(name)}`);
  const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  if (positionals.length !== command.args) throw new UsageError(`${name} takes ${command.args} argument(s)`);
  const users = new SqliteUserDirectory(loadCliConfig().dbPath);
  try {
    command.run(users, positionals, values as Values);
  } finally {
    users.close();
  }
});
