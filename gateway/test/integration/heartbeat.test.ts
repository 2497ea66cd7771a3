/**
 * Half-open ("ghost") connections must not keep users online: a client that stops
 * answering WebSocket pings is dropped by the idle timeout and its user goes offline.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';

const fx = gatewayFixture();
let cluster: Cluster;
let gw: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'hb', { nodes: 1, env: { IDLE_TIMEOUT_S: '8' } });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

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
