/**
 * With no REDIS_URL, one gateway runs on the in-process memory twins: a newcomer sees
 * presence and actions work with nothing installed.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';

const fx = gatewayFixture();
let gw: GatewayProcess;

beforeAll(async () => {
  gw = await fx.gateway({ DB_PATH: tempDbPath() });
});

afterAll(async () => {
  await fx.teardown();
});

it('serves presence and actions on one node without Redis', async () => {
  expect(gw.logs.join('\n')).toContain('in-process broker');
  const alice = await fx.connect(gw, 'alice');
  const bob = await fx.connect(gw, 'bob');
  await alice.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'bob' && c.status === 'online'));
  await alice.request({ type: 'join', action: 'lobby' });
  await bob.request({ type: 'join', action: 'lobby' });
  await bob.request({ type: 'publish', action: 'lobby', data: { n: 1 } });
  expect((await alice.next((f) => f.type === 'message')).from.userId).toBe('bob');
  bob.close();
  await alice.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'bob' && c.status === 'offline'));
  expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
  alice.close();
});

it('refuses to start without a key in production, with exit code 1 and a clear message', async () => {
  await expect(fx.gateway({ DB_PATH: tempDbPath(), NODE_ENV: 'production', JWT_SECRET: '' })).rejects.toThrow(/JWT_SECRET or JWKS_URL is required/);
});

it('refuses bad configuration with exit code 1 before listening', async () => {
  await expect(fx.gateway({ DB_PATH: tempDbPath(), IDLE_TIMEOUT_S: '3' })).rejects.toThrow(/IDLE_TIMEOUT_S/);
  await expect(fx.gateway({ DB_PATH: tempDbPath(), JWT_SECRET: 'short' })).rejects.toThrow(/at least 32 bytes/);
});

it('refuses to start on the slow fallback of uWebSockets.js', async () => {
  await expect(fx.gateway({ DB_PATH: tempDbPath(), UWS_USE_FALLBACK: 'true' })).rejects.toThrow(/native uWebSockets.js|UWS_USE_FALLBACK/);
});
