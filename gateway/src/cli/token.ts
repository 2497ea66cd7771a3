/**
 * Sign a development access token (`npm run -s token -- alice`): HS256 with the configured
 * JWT_SECRET, or the development secret kept beside DB_PATH that local gateways also use.
 * The token alone goes to stdout, so `TOKEN=$(npm run -s token -- alice)` works.
 */
import { parseArgs } from 'node:util';
import { signToken } from '../auth/tokens.js';
import { SqliteUserDirectory } from '../users/sqlite.js';
import { DirectoryError } from '../users/types.js';
import { parseTtl, UsageError } from './parse.js';
import { loadCliConfig, runCli } from './run.js';

const USAGE = `usage: npm run -s token -- <username> [--ttl 1h] [--channels 'team:a,team:b*']
       npm run -s token -- --sub <user id> [--name "Display Name"] [--ttl 1h]
       npm run -s token -- <username> --channel <action> [--ttl 5m]
  --ttl       30s, 15m, 1h, 7d or seconds (default 1h; at most TOKEN_MAX_TTL_S, 24h by default)
  --sub       sign for any user id, without looking it up in the directory
  --channels  the access token's channels claim (names or * globs, comma-separated)
  --channel   a subscription token for one action (namespaces with subscribe "token")`;

/** The subject and name to sign for: the directory's user, or `--sub` as given. */
function subject(dbPath: string, username: string | undefined, sub: string | undefined, name: string | undefined) {
  if (sub !== undefined) {
    if (username !== undefined) throw new UsageError('give either <username> or --sub, not both');
    if (sub.length < 1 || sub.length > 128) throw new UsageError('--sub must be 1-128 characters');
    return { userId: sub, name };
  }
  if (username === undefined) throw new UsageError('missing <username>');
  const users = new SqliteUserDirectory(dbPath);
  try {
    const user = users.byUsername(username);
    if (!user) throw new DirectoryError('not_found', `unknown user: ${username} (add it with npm run users -- add, or sign with --sub)`);
    return { userId: user.id, name: name ?? user.displayName, version: user.tokenVersion };
  } finally {
    users.close();
  }
}

runCli(USAGE, async (argv) => {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ttl: { type: 'string' }, sub: { type: 'string' }, name: { type: 'string' },
      channels: { type: 'string' }, channel: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length > 1) throw new UsageError('one username only');
  const ttlSeconds = parseTtl(values.ttl ?? '1h');
  const config = loadCliConfig();
  if (ttlSeconds > config.auth.maxTtlS) throw new UsageError(`--ttl is at most ${config.auth.maxTtlS}s (TOKEN_MAX_TTL_S): gateways refuse longer-lived tokens`);
  if (values.channel !== undefined && values.channels !== undefined) throw new UsageError('give either --channel or --channels');
  const who = subject(config.dbPath, positionals[0], values.sub, values.name);
  const channels = values.channels?.split(',').map((c) => c.trim()).filter(Boolean);
  const { token } = await signToken(config.auth, { ...who, ttlSeconds, channels, channel: values.channel });
  process.stdout.write(`${token}\n`);
});
