/**
 * Half-open ("ghost") connections must not keep users online: a client that stops
 * answering WebSocket pings is dropped by the idle timeout and its user goes offline.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';

const fx = gatewayFixture();
let redis: RedisServer;
let gw: GatewayProcess;

beforeAll(async () => {
  redis = await startRedis();
  gw = await fx.gateway({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('hb'), DB_PATH: tempDbPath(), IDLE_TIMEOUT_S: '8' });
});

afterAll(async () => {
  await fx.teardown();
  await redis?.stop();
});

it('drops a client that never answers pings within about twice the idle timeout', async () => {
  const watcher = await fx.connect(gw, 'hb-watcher');
  expect(watcher.frames[0].heartbeatMs).toBe(4000);
  // autoPong: false makes this client ignore the server's pings, like a peer that vanished.
  const ghost = new WebSocket(`${gw.url}?token=${await fx.mint('ghost')}`, { autoPong: false });
  await new Promise((r) => ghost.once('open', r));
  await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'ghost' && c.status === 'online'));
  const started = Date.now();
  // The watcher keeps itself alive with application pings, as the page does.
  const keepAlive = setInterval(() => watcher.send({ type: 'ping' }), 2000);
  try {
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'ghost' && c.status === 'offline'), 25_000);
  } finally {
    clearInterval(keepAlive);
  }
  console.log(`ghost connection dropped and announced offline after ${Date.now() - started} ms (idle timeout 8 s)`);
  expect(watcher.closed).toBeUndefined();
  ghost.terminate();
  watcher.close();
}, 40_000);
