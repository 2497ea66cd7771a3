/**
 * Half-open connections: a client process frozen with SIGSTOP keeps its TCP connections
 * established (the kernel still acknowledges) but answers nothing. The gateway's heartbeat
 * (IDLE_TIMEOUT_S, with automatic WebSocket pings) must drop those sockets, and presence must
 * follow: a user whose last connection it was goes offline, a user with another live tab stays.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const IDLE_S = 8;
let cluster: Cluster;
let redis: RedisServer;
let gw: GatewayProcess;
let prefix: string;
let child: ChildProcess | undefined;

// The frozen client: opens one socket per URL, reports opens and closes, then does nothing.
const CLIENT = `
import WebSocket from 'ws';
for (const url of JSON.parse(process.argv[1])) {
  const ws = new WebSocket(url);
  ws.on('open', () => process.stdout.write('open\\n'));
  ws.on('close', (code) => process.stdout.write('close ' + code + '\\n'));
  ws.on('error', () => {});
}`;

beforeAll(async () => {
  cluster = await startCluster(fx, 'halfopen', { nodes: 1, env: { IDLE_TIMEOUT_S: String(IDLE_S), PRESENCE_GRACE_MS: '0' } });
  ({ redis, prefix, nodes: [gw] } = cluster);
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await cluster?.stop();
});

it(`drops the sockets of a SIGSTOPped client within 2 x IDLE_TIMEOUT_S (${IDLE_S} s) and settles presence`, async () => {
  const watcher = await fx.connect(gw, 'ho-watcher');
  const liveTab = await fx.connect(gw, 'ho-both');
  const urls = [`${gw.url}?token=${await fx.mint('ho-only')}`, `${gw.url}?token=${await fx.mint('ho-both')}`];
  child = spawn(process.execPath, ['--input-type=module', '-e', CLIENT, JSON.stringify(urls)], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
  await waitFor('child connected twice', () => lines.filter((l) => l === 'open').length === 2, 10_000);
  await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'ho-only' && c.status === 'online'));
  expect(await redis.client().hget(`${prefix}presence:counts`, 'ho-both')).toBe('2');

  child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  // The watcher and the live tab behave like the page: an application ping every heartbeatMs / 2.
  const keepAlive = setInterval(() => [watcher, liveTab].forEach((c) => c.send({ type: 'ping' })), 2000);
  try {
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'ho-only' && c.status === 'offline'), (2 * IDLE_S + 6) * 1000);
  } finally {
    clearInterval(keepAlive);
  }
  const droppedMs = Date.now() - stoppedAt;
  console.log(`SIGSTOPped client: offline announced ${droppedMs} ms after the stop (IDLE_TIMEOUT_S=${IDLE_S})`);
  expect(droppedMs).toBeLessThan(2 * IDLE_S * 1000 + 2000);

  await waitFor('both frozen sockets dropped', async () => (await metric(gw, 'gateway_connections')) === 2, 5000, 100);
  const r = redis.client();
  expect(await r.sismember(`${prefix}online_users`, 'ho-only')).toBe(0);
  expect(await r.hget(`${prefix}presence:counts`, 'ho-both')).toBe('1');
  expect(watcher.presence('ho-both').map((c) => c.status)).toEqual(['online']);
  expect(watcher.closed).toBeUndefined();
  expect(liveTab.closed).toBeUndefined();

  // Thawed, the client finds both sockets closed (it never got the chance to answer).
  child.kill('SIGCONT');
  await waitFor('child saw both closes', () => lines.filter((l) => l.startsWith('close')).length === 2, 10_000);
  console.log(`thawed client saw: ${lines.filter((l) => l.startsWith('close')).join(', ')}`);
  child.kill('SIGKILL');
}, 40_000);
