/**
 * pm2: N gateway instances on one host, one port.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 JWT_SECRET=... npm run cluster   # build, then pm2 start this file
 *   npm run deploy:reload                                               # safe rolling reload (deploy/reload.mjs)
 *
 * Cluster mode and uWebSockets.js: pm2 forks the instances with Node's cluster module, but
 * the gateway never uses Node's `net` listener (which the cluster primary would share out
 * round-robin). Each instance binds the port itself through uWebSockets.js, which sets
 * SO_REUSEPORT on Linux, so the kernel spreads new connections over every instance listening.
 * gateway/test/ops/pm2.test.ts checks that connections land on several instances. Fork mode
 * (PM2_EXEC_MODE=fork) binds the same way (checked with two plain processes); cluster mode is
 * the default because `pm2 reload` does its start-new-then-stop-old swap only for cluster-mode
 * apps (in fork mode it is a plain restart: stop, then start).
 * That is Linux behaviour: on macOS and Windows the kernel does not balance a shared port (or
 * the second bind fails), so run one instance per port (PORT per app) behind a proxy there.
 *
 * pm2 gives the instances the environment of the shell that ran `pm2 start` (PORT, REDIS_URL,
 * JWT_SECRET, DRAIN_SPREAD_MS, PRESENCE_GRACE_MS, ...: see gateway/src/config.ts), plus the
 * `env` below, which wins. It is captured at start: a plain `pm2 reload` keeps it. To change a
 * value, `pm2 delete gateway` and start again (or `pm2 reload deploy/ecosystem.config.cjs
 * --update-env`, which also takes the new shell's variables). Variables read by this file:
 *   INSTANCES        number of instances, or "max" (one per core)           default 2
 *   PM2_APP_NAME     the pm2 app name                                         default gateway
 *   PM2_EXEC_MODE    cluster | fork                                           default cluster
 *   LISTEN_TIMEOUT_MS  how long pm2 waits for an instance's 'ready'          default 15000
 *   GATEWAY_SCRIPT   the entry point (tests swap in a wrapper)                default dist/gateway/src/main.js
 *   DRAIN_SPREAD_MS, PRESENCE_GRACE_MS, SHUTDOWN_TIMEOUT_MS  to size kill_timeout (below)
 * Do not export NODE_ID in that shell: every instance needs its own (see `env`).
 */
'use strict';

const { join } = require('node:path');

const root = join(__dirname, '..');
const env = process.env;

function nonNegativeInt(name, fallback) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}

function instances() {
  const raw = env.INSTANCES;
  if (raw === undefined || raw === '') return 2;
  if (raw === 'max') return 'max';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`INSTANCES: expected a positive integer or "max", got ${JSON.stringify(raw)}`);
  return n;
}

const execMode = env.PM2_EXEC_MODE || 'cluster';
if (execMode !== 'cluster' && execMode !== 'fork') throw new Error(`PM2_EXEC_MODE: cluster or fork, got ${JSON.stringify(execMode)}`);

// The drain: sockets close over DRAIN_SPREAD_MS, presence is kept PRESENCE_GRACE_MS more, then
// retired. The gateway's own deadline (SHUTDOWN_TIMEOUT_MS) must cover that, and pm2's SIGKILL
// (kill_timeout) must come after the gateway's deadline, or a drain is cut short and its users'
// presence is left to the lease expiry (PRESENCE_LEASE_MS).
const spreadMs = nonNegativeInt('DRAIN_SPREAD_MS', 1000);
const graceMs = nonNegativeInt('PRESENCE_GRACE_MS', 3000);
const shutdownMs = nonNegativeInt('SHUTDOWN_TIMEOUT_MS', Math.max(8000, spreadMs + graceMs + 3000));
if (shutdownMs < spreadMs + graceMs + 1000) {
  throw new Error(`SHUTDOWN_TIMEOUT_MS (${shutdownMs}) must exceed DRAIN_SPREAD_MS + PRESENCE_GRACE_MS + 1000 (${spreadMs + graceMs + 1000})`);
}
const killTimeoutMs = shutdownMs + 2000;

module.exports = {
  apps: [
    {
      name: env.PM2_APP_NAME || 'gateway',
      script: env.GATEWAY_SCRIPT || join(root, 'dist', 'gateway', 'src', 'main.js'),
      cwd: root,
      exec_mode: execMode,
      instances: instances(),
      // Started (and reloaded) instances count only after they send process.send('ready'),
      // which main.ts does once it listens and reaches Redis.
      wait_ready: true,
      // pm2 swaps an instance in after listen_timeout even if it never said ready:
      // deploy/reload.mjs notices and stops the rollout.
      listen_timeout: nonNegativeInt('LISTEN_TIMEOUT_MS', 15000),
      // pm2 stops with SIGINT (main.ts drains on SIGINT, SIGTERM and the 'shutdown' message),
      // then SIGKILL after kill_timeout.
      kill_timeout: killTimeoutMs,
      autorestart: true,
      // A crash loop stops after max_restarts starts that each died within min_uptime.
      min_uptime: 5000,
      max_restarts: 10,
      exp_backoff_restart_delay: 200,
      // pino already writes JSON lines with time and nodeId.
      merge_logs: true,
      time: false,
      env: {
        NODE_ENV: env.NODE_ENV || 'production',
        SHUTDOWN_TIMEOUT_MS: String(shutdownMs),
        // Never shared: the default (hostname-pid) differs per process. During a reload the new
        // instance and the one it replaces run side by side; a shared id would let the new one's
        // start-up sync wipe the presence the draining one still holds. An empty value is "unset".
        NODE_ID: '',
      },
    },
  ],
};
