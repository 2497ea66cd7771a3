/**
 * Running the gateway under pm2 with deploy/ecosystem.config.cjs: several instances share one
 * port (uWebSockets.js binds with SO_REUSEPORT; the kernel spreads connections), and a reload
 * replaces them one by one without a client staying disconnected and without any user
 * flapping offline. deploy/reload.mjs stops a rollout at the first instance that never
 * becomes ready.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SECRET, tempDbPath, tokenFor } from '../harness/gateway.js';
import { freePort } from '../harness/ports.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { get } from './http.js';
import { createPm2, ECOSYSTEM, RELOAD, ROOT, type Pm2 } from './pm2.js';
import { ReconnectingClient } from './reconnecting.js';

const USERS = 200;

let redis: RedisServer;
let pm2: Pm2;
const clients: ReconnectingClient[] = [];

/** Environment for `pm2 start`: the gateway's variables, which pm2 hands to the instances. */
function appEnv(name: string, port: number, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PM2_APP_NAME: name, INSTANCES: '2', PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, REDIS_PREFIX: prefix,
    JWT_SECRET: TEST_SECRET, DB_PATH: tempDbPath(), LOG_LEVEL: 'warn', PRESENCE_BATCH_MS: '10', ...extra,
  };
}

async function startApp(env: Record<string, string>): Promise<void> {
  const r = await pm2.run(['start', ECOSYSTEM], env, 40_000);
  expect(r.code, r.stdout + r.stderr).toBe(0);
  await waitFor(`${env.PM2_APP_NAME}: 2 instances online`, async () => {
    const online = (await pm2.list()).filter((p) => p.name === env.PM2_APP_NAME && p.pm2_env.status === 'online');
    return online.length === 2;
  }, 20_000, 200);
  await waitFor(`${env.PM2_APP_NAME} ready on ${env.PORT}`, async () => (await get(`http://127.0.0.1:${env.PORT}/readyz`)).status === 200, 10_000, 100);
}

/** The process is gone (signal 0 reaches no one). */
function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function pids(name: string): Promise<Map<number, number>> {
  return new Map((await pm2.list()).filter((p) => p.name === name).map((p) => [p.pm_id, p.pid]));
}

beforeAll(async () => {
  redis = await startRedis();
  pm2 = createPm2();
});

afterAll(async () => {
  for (const c of clients) c.stop();
  await pm2?.kill(20_000);
  await redis?.stop();
}, 40_000);

describe('pm2 cluster mode on one port', () => {
  let port: number;
  let prefix: string;

  beforeAll(async () => {
    port = await freePort();
    prefix = uniquePrefix('pm2');
    await startApp(appEnv('gateway', port, prefix));
  }, 60_000);

  it('spreads connections over the instances and reloads them with every client back, none offline', async () => {
    const procs = (await pm2.list()).filter((p) => p.name === 'gateway');
    expect(procs.map((p) => p.pm2_env.exec_mode)).toEqual(['cluster_mode', 'cluster_mode']);
    const url = `ws://127.0.0.1:${port}/ws`;
    const r: Redis = redis.client();

    // A gap-free witness of presence events, straight from the store's channel.
    const storeEvents: Array<{ userId: string; status: string }> = [];
    const sub = redis.client();
    await sub.subscribe(`${prefix}presence`);
    sub.on('message', (_channel: string, message: string) => storeEvents.push(...JSON.parse(message).changes));

    const users = Array.from({ length: USERS }, (_, i) => `u${String(i).padStart(3, '0')}`);
    const watcher = await new ReconnectingClient(url, await tokenFor('watcher')).start();
    clients.push(watcher);
    for (let i = 0; i < USERS; i += 50) {
      const batch = await Promise.all(users.slice(i, i + 50).map(async (u) => new ReconnectingClient(url, await tokenFor(u)).start()));
      clients.push(...batch);
    }
    const users200 = clients.slice(1);
    const firstNodes = new Set(users200.map((c) => c.nodes()[0]));
    console.log(`200 connections over instances: ${JSON.stringify([...firstNodes].map((n) => [n, users200.filter((c) => c.nodes()[0] === n).length]))}`);
    expect(firstNodes.size).toBeGreaterThan(1);
    await waitFor('all 200 users in online_users', async () => {
      const online = new Set(await r.smembers(`${prefix}online_users`));
      return users.every((u) => online.has(u));
    }, 10_000, 50);

    // Sample the online set for the whole reload, one query about every 100 ms (a sampling
    // rate: nothing waits on it); `at` is when the query was sent.
    const samples: { at: number; missing: string[] }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const at = Date.now();
        const online = new Set(await r.smembers(`${prefix}online_users`));
        samples.push({ at, missing: users.filter((u) => !online.has(u)) });
        await new Promise((res) => setTimeout(res, Math.max(0, at + 100 - Date.now())));
      }
    })();

    const oldPids = await pids('gateway');
    const started = Date.now();
    const reload = await pm2.run(['reload', 'gateway'], {}, 45_000);
    const reloadMs = Date.now() - started;
    expect(reload.code, reload.stdout + reload.stderr).toBe(0);
    const newPids = await pids('gateway');
    for (const [id, pid] of oldPids) expect(newPids.get(id)).not.toBe(pid);

    await waitFor('every client connected again', () => clients.every((c) => c.connected && c.moves.every((m) => m.welcomedAt !== undefined)), 10_000, 50);
    await waitFor('every old instance exited', () => [...oldPids.values()].every(exited), 10_000, 20);
    const retiredAt = Date.now();
    await waitFor('a sample of the online set sent after the last old instance exited', () => samples.some((s) => s.at > retiredAt), 5000, 20);
    sampling = false;
    await sampler;

    const moves = users200.map((c) => c.moves.length);
    const gaps = clients.flatMap((c) => c.moves.map((m) => m.welcomedAt! - m.closedAt));
    const oldNodes = new Set(users200.flatMap((c) => c.nodes().slice(0, 1)));
    console.log(`pm2 reload of 2 instances: ${reloadMs} ms; moves per client: ${JSON.stringify(countBy(moves))}; `
      + `reconnect gap max ${Math.max(...gaps)} ms; failed handshakes retried: ${clients.reduce((n, c) => n + c.handshakeFailures, 0)}; `
      + `online_users samples: ${samples.length}`);
    const failures = clients.flatMap((c) => c.failures);
    if (failures.length > 0) console.log(`failed handshakes: ${JSON.stringify(failures)}`);

    expect(clients.every((c) => !c.gaveUp)).toBe(true);
    expect(clients.flatMap((c) => c.closes).filter((code) => code !== 1012)).toEqual([]);
    expect(Math.max(...gaps)).toBeLessThan(10_000);
    expect(moves.every((m) => m >= 1)).toBe(true); // every instance was replaced, so everyone moved
    for (const c of clients) expect(oldNodes.has(c.nodes()[c.nodes().length - 1])).toBe(false);

    const offline = (events: Array<Record<string, any>>) => events.filter((e) => e.status === 'offline' && users.includes(e.userId));
    expect(offline(watcher.presence())).toEqual([]);
    expect(offline(storeEvents)).toEqual([]);
    expect(samples.length).toBeGreaterThan(reloadMs / 200);
    expect(samples.filter((s) => s.missing.length > 0)).toEqual([]);
  }, 90_000);
});

describe('deploy/reload.mjs', () => {
  let port: number;
  let brokenMarker: string;

  beforeAll(async () => {
    port = await freePort();
    // The app starts through a wrapper: while the marker file exists, a new process hangs at
    // start (never listens, never says ready), like a build that cannot come up.
    const dir = pm2.home;
    brokenMarker = join(dir, 'broken');
    const wrapper = join(dir, 'wrapper.mjs');
    const main = pathToFileURL(join(ROOT, 'dist', 'gateway', 'src', 'main.js')).href;
    writeFileSync(wrapper, [
      "import { existsSync } from 'node:fs';",
      `if (existsSync(${JSON.stringify(brokenMarker)})) setInterval(() => {}, 1 << 30);`,
      `else await import(${JSON.stringify(main)});`,
    ].join('\n'));
    await startApp(appEnv('rollout', port, uniquePrefix('rollout'), {
      GATEWAY_SCRIPT: wrapper, DRAIN_SPREAD_MS: '200', PRESENCE_GRACE_MS: '500', LISTEN_TIMEOUT_MS: '3000',
    }));
  }, 60_000);

  const rollout = () => pm2.node(RELOAD, ['--name', 'rollout', '--settle-ms', '1000'], {}, 60_000);

  it('replaces every instance, one at a time, each ready and stable', async () => {
    const before = await pids('rollout');
    const r = await rollout();
    console.log(r.stdout.trim());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const after = await pids('rollout');
    for (const [id, pid] of before) expect(after.get(id)).not.toBe(pid);
  }, 60_000);

  it('stops at the first instance that never signals ready and leaves the others running', async () => {
    const before = await pids('rollout');
    const [first, second] = [...before.keys()].sort((a, b) => a - b);
    writeFileSync(brokenMarker, '');
    const r = await rollout().finally(() => rmSync(brokenMarker, { force: true })); // later starts are healthy again
    console.log(r.stderr.trim());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`#${first}: the new process never signalled ready`);
    const after = await pids('rollout');
    expect(after.get(first)).not.toBe(before.get(first)); // pm2 swapped the broken one in anyway...
    expect(after.get(second)).toBe(before.get(second)); // ...but the rollout did not touch the next one
    for (let i = 0; i < 8; i++) expect((await get(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  }, 60_000);
});

function countBy(values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
