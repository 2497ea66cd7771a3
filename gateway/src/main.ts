/**
 * Entry point: configuration, logger, stores, gateway, signals.
 * Exit codes: 0 after a clean stop, 1 for bad configuration or a dependency that
 * cannot be reached at start (nothing listens in that case).
 */
import { startGateway } from './app.js';
import { createMemoryStores, createRedisStores, type Stores } from './stores.js';
import { readOrCreateDevSecret } from './auth/dev-secret.js';
import { ConfigError } from './errors.js';
import { loadConfig, type Config } from './config.js';
import { createLogger } from './log.js';
import { staticFiles } from './transport/static.js';
import { loadNativeUws } from './transport/uws.js';
import { SqliteUserDirectory } from './users/sqlite.js';

function configOrExit(): Readonly<Config> {
  try {
    return loadConfig(process.env, readOrCreateDevSecret);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = configOrExit();
  const log = createLogger(config.logLevel, config.nodeId);
  if (config.auth.secretGenerated) {
    log.warn('NO JWT_SECRET SET: using a generated development secret kept in the data folder. Set JWT_SECRET (or JWKS_URL) for anything but local development.');
  }
  let uws;
  try {
    uws = loadNativeUws();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'refusing to start');
    process.exit(1);
  }
  const users = new SqliteUserDirectory(config.dbPath);
  let stores: Stores;
  try {
    stores = config.redis ? await createRedisStores(config, log) : createMemoryStores(config);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, err instanceof ConfigError ? 'refused to start' : 'cannot reach Redis at start');
    process.exit(1);
  }
  if (!config.redis) log.info('no REDIS_URL: running one node with the in-process broker and presence store');

  const gateway = await startGateway({ ...stores, config, log, uws, users, files: staticFiles(log) });
  stores.onReconnect(() => gateway.reconnected());
  process.send?.('ready'); // pm2 wait_ready

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.error('stop took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs).unref();
    await gateway.stop();
    await stores.close();
    users.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('message', (msg) => {
    if (msg === 'shutdown') void shutdown('pm2 shutdown message');
  });
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
