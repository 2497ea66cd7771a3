#!/usr/bin/env node
/**
 * Safe rolling reload of the pm2 gateway instances: `npm run deploy:reload [-- options]`.
 *
 * `pm2 reload gateway` alone has two traps:
 * - with `wait_ready`, an instance that never sends 'ready' (a broken build, a bad variable,
 *   Redis unreachable from the new code) is swapped in anyway after `listen_timeout`, and pm2
 *   goes on to the next instance: one bad build takes every instance down in turn;
 * - with more than two instances pm2 reloads two at a time.
 *
 * This script reloads one pm2 instance at a time and, after each, requires:
 *   1. the replacement sent 'ready' (seen on pm2's event bus) before pm2 gave up waiting;
 *   2. it is `online` with a new pid;
 *   3. GET /readyz on the shared port answered 200 on `--checks` fresh connections in a row
 *      (the kernel spreads them over the instances);
 *   4. after `--settle-ms` it still has the same pid and restart count (no crash loop), and
 *      /readyz still answers 200.
 * The first failure stops the rollout: exit 1 with what went wrong and how far it got; the
 * instances not reached yet keep running the code they had. Exit 2: nothing to reload, or the
 * cluster was not healthy to begin with (fix it first, or use `pm2 reload` directly).
 *
 * Options (all optional):
 *   --name gateway        pm2 app name (default $PM2_APP_NAME or gateway)
 *   --url URL             readiness URL (default http(s)://127.0.0.1:<PORT of the app>/readyz)
 *   --checks N            consecutive 200s required (default 3 x instances, at least 4)
 *   --settle-ms MS        how long a new instance must stay up (default 3000)
 *   --ready-timeout-ms MS how long to wait for /readyz after a swap (default 20000)
 * pm2 is reached through PM2_HOME like the pm2 command line (default ~/.pm2).
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const EXIT_STOPPED = 1;
const EXIT_PRECONDITION = 2;

class Stop extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const log = (msg) => process.stdout.write(`[deploy:reload] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function options() {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: process.env.PM2_APP_NAME || 'gateway' },
      url: { type: 'string' },
      checks: { type: 'string' },
      'settle-ms': { type: 'string', default: '3000' },
      'ready-timeout-ms': { type: 'string', default: '20000' },
    },
  });
  const int = (name, v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Stop(EXIT_PRECONDITION, `--${name}: expected a non-negative integer, got ${v}`);
    return n;
  };
  return {
    name: values.name,
    url: values.url,
    checks: values.checks === undefined ? undefined : Math.max(1, int('checks', values.checks)),
    settleMs: int('settle-ms', values['settle-ms']),
    readyTimeoutMs: int('ready-timeout-ms', values['ready-timeout-ms']),
  };
}

function loadPm2() {
  const require = createRequire(import.meta.url);
  try {
    return require('pm2');
  } catch {
    throw new Stop(EXIT_PRECONDITION, 'the pm2 package is not installed in this project (npm install)');
  }
}

/** Promisified pm2 API calls (the API is callback-based). */
const call = (pm2, method, ...args) => new Promise((resolve, reject) => {
  pm2[method](...args, (err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err.message ?? err))) : resolve(result)));
});

function envOf(proc) {
  return { ...proc.pm2_env, ...(proc.pm2_env?.env ?? {}) };
}

/** The readiness URL of the app's shared port. */
function readyzUrl(proc) {
  const env = envOf(proc);
  const host = !env.HOST || env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST;
  const scheme = env.TLS_CERT ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${env.PORT || 8080}/readyz`;
}

/** One GET on a fresh connection (no keep-alive, so the kernel picks an instance each time). */
function status(url, timeoutMs = 2000) {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    // The certificate is not checked: this asks a local port whether it is ready, nothing secret is sent.
    const req = lib.get(u, { agent: false, timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err) => resolve(err.code ?? err.message));
  });
}

/** Wait until `checks` requests in a row answer 200; returns the last failure on timeout. */
async function readyInARow(url, checks, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let inARow = 0;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const s = await status(url);
    if (s === 200) {
      inARow += 1;
      if (inARow >= checks) return undefined;
      await sleep(50);
    } else {
      inARow = 0;
      last = String(s);
      await sleep(200);
    }
  }
  return last;
}

async function instancesOf(pm2, name) {
  const list = await call(pm2, 'list');
  return list.filter((p) => p.name === name).sort((a, b) => a.pm_id - b.pm_id);
}

function describe(p) {
  return `#${p.pm_id} pid ${p.pid} ${p.pm2_env.status} restarts ${p.pm2_env.restart_time}`;
}

async function rollout(pm2, opts) {
  const procs = await instancesOf(pm2, opts.name);
  if (procs.length === 0) throw new Stop(EXIT_PRECONDITION, `no pm2 app named ${opts.name}: start it with npm run cluster`);
  const down = procs.filter((p) => p.pm2_env.status !== 'online');
  if (down.length > 0) {
    throw new Stop(EXIT_PRECONDITION,
      `not every instance is online before the reload (${down.map(describe).join('; ')}): look at pm2 logs ${opts.name}, fix, then retry`);
  }
  const url = opts.url ?? readyzUrl(procs[0]);
  const checks = opts.checks ?? Math.max(4, 3 * procs.length);
  const listenTimeout = procs[0].pm2_env.listen_timeout ?? 3000;
  const killTimeout = procs[0].pm2_env.kill_timeout ?? 1600;
  const before = await readyInARow(url, checks, opts.readyTimeoutMs);
  if (before !== undefined) throw new Stop(EXIT_PRECONDITION, `${url} is not answering 200 before the reload (last: ${before}); fix that first`);

  // 'ready' messages from the instances, by pm_id, with the time they arrived.
  const readyAt = new Map();
  const bus = await call(pm2, 'launchBus');
  bus.on('process:msg', (packet) => {
    if (packet?.raw === 'ready' && packet.process?.name === opts.name) readyAt.set(packet.process.pm_id, Date.now());
  });

  log(`reloading ${procs.length} instance(s) of ${opts.name} one at a time; readiness at ${url}`);
  const started = Date.now();
  for (const [i, old] of procs.entries()) {
    const id = old.pm_id;
    const progress = `${i} of ${procs.length} instances were replaced before this one`;
    const since = Date.now();
    log(`#${id} (pid ${old.pid}): reloading`);
    try {
      // Resolves once pm2 swapped the new process in and the old one exited (drain included).
      await Promise.race([
        call(pm2, 'reload', id),
        sleep(listenTimeout + killTimeout + 30_000).then(() => { throw new Error('pm2 reload did not finish in time'); }),
      ]);
    } catch (err) {
      throw new Stop(EXIT_STOPPED, `#${id}: pm2 reload failed: ${err.message}. Rollout stopped; ${progress}.`);
    }
    const ready = readyAt.get(id);
    if (ready === undefined || ready < since) {
      throw new Stop(EXIT_STOPPED,
        `#${id}: the new process never signalled ready; pm2 swapped it in after listen_timeout (${listenTimeout} ms) anyway. `
        + `Rollout stopped; ${progress}, the others still run the previous code. `
        + `See pm2 logs ${opts.name} --lines 100, fix, then rerun (or pm2 reload ${id} after a rollback).`);
    }
    const now = (await instancesOf(pm2, opts.name)).find((p) => p.pm_id === id);
    if (!now || now.pm2_env.status !== 'online' || now.pid === old.pid) {
      throw new Stop(EXIT_STOPPED, `#${id}: not online with a new pid after the reload (${now ? describe(now) : 'gone'}). Rollout stopped; ${progress}.`);
    }
    const notReady = await readyInARow(url, checks, opts.readyTimeoutMs);
    if (notReady !== undefined) {
      throw new Stop(EXIT_STOPPED, `#${id}: ${url} did not answer 200 ${checks} times in a row within ${opts.readyTimeoutMs} ms (last: ${notReady}). Rollout stopped; ${progress}.`);
    }
    await sleep(opts.settleMs);
    const settled = (await instancesOf(pm2, opts.name)).find((p) => p.pm_id === id);
    if (!settled || settled.pid !== now.pid || settled.pm2_env.status !== 'online' || settled.pm2_env.restart_time !== now.pm2_env.restart_time) {
      throw new Stop(EXIT_STOPPED,
        `#${id}: the new process did not stay up for ${opts.settleMs} ms (${settled ? describe(settled) : 'gone'}; was pid ${now.pid}). Rollout stopped; ${progress}.`);
    }
    const after = await readyInARow(url, checks, opts.readyTimeoutMs);
    if (after !== undefined) throw new Stop(EXIT_STOPPED, `#${id}: ${url} stopped answering 200 (last: ${after}). Rollout stopped; ${progress}.`);
    log(`#${id}: replaced (pid ${old.pid} -> ${now.pid}), ready and stable`);
  }
  log(`done: ${procs.length} instance(s) replaced in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function main() {
  const opts = options();
  const home = process.env.PM2_HOME || join(homedir(), '.pm2');
  // pm2.connect() would start a daemon when none runs: refuse instead of starting an empty one.
  if (!existsSync(join(home, 'rpc.sock'))) throw new Stop(EXIT_PRECONDITION, `no pm2 daemon at PM2_HOME=${home}: start the cluster with npm run cluster`);
  const pm2 = loadPm2();
  await call(pm2, 'connect');
  try {
    await rollout(pm2, opts);
  } finally {
    pm2.Client?.disconnectBus?.(() => {});
    pm2.disconnect();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    if (err instanceof Stop) {
      process.stderr.write(`[deploy:reload] FAILED: ${err.message}\n`);
      process.exit(err.code);
    }
    process.stderr.write(`[deploy:reload] FAILED: ${err?.stack ?? err}\n`);
    process.exit(EXIT_STOPPED);
  },
);
