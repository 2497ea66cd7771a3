/**
 * What every command-line tool shares: configuration from the environment (with the same
 * development secret file as a local gateway) and one way to fail: a message on stderr,
 * the usage when the command line was wrong, and exit code 1.
 */
import { readOrCreateDevSecret } from '../auth/dev-secret.js';
import { ConfigError } from '../errors.js';
import { loadConfig, type Config } from '../config.js';
import { DirectoryError } from '../users/types.js';
import { UsageError } from './parse.js';

/** The gateway's configuration; the dev secret lives beside the configured DB_PATH. */
export function loadCliConfig(): Readonly<Config> {
  return loadConfig(process.env, readOrCreateDevSecret);
}

function isArgsError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

/** Run `main` with the arguments after the script name; any failure sets exit code 1. */
export function runCli(usage: string, main: (args: string[]) => Promise<void> | void): void {
  Promise.resolve()
    .then(() => main(process.argv.slice(2)))
    .catch((err: unknown) => {
      process.exitCode = 1;
      if (err instanceof UsageError || isArgsError(err)) {
        process.stderr.write(`${(err as Error).message}\n\n${usage}\n`);
      } else if (err instanceof ConfigError || err instanceof DirectoryError) {
        process.stderr.write(`${err.message}\n`);
      } else {
        process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      }
    });
}

/** One JSON document per line on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
