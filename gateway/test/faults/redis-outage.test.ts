/**
 * Redis goes away and comes back empty. Two gateway processes keep every socket open and
 * keep serving members on their own node; readiness reports the outage; a publish that
 * cannot cross nodes says so. When a fresh, empty Redis answers on the same address, each
 * node rebuilds its share of presence and membership from its live sockets, with no client
 * reconnecting. FAULT_REDIS_OUTAGE_MS sets how long Redis stays down (default 8 s).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const OUTAGE_MS = Number(process.env.FAULT_REDIS_OUTAGE_MS ?? 8000);
let cluster: Cluster;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let prefix: string;

beforeAll(async () => {
  cluster = await startCluster(fx, 'outage', { nodes: 2, env: { PRESENCE_GRACE_MS: '0', PRESENCE_BATCH_MS: '10' } });
  ({ redis, prefix, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

const status = async (gw: GatewayProcess, path: string) => (await fetch(`${gw.http}${path}`)).status;
const idOf = (c: TestClient): string => c.frames[0].connectionId;

/** The cluster state in Redis, in a form that compares with toEqual. */
async function redisState() {
  const r = redis.client();
  const [online, counts, room, side, late] = await Promise.all([
    r.smembers(`${prefix}online_users`), r.hgetall(`${prefix}presence:counts`),
    r.hgetall(`${prefix}members:room`), r.hgetall(`${prefix}members:side`), r.hgetall(`${prefix}members:late`),
  ]);
  r.disconnect();
  const sorted = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).sort());
  return { online: online.sort(), counts: sorted(counts), room: sorted(room), side: sorted(side), late: sorted(late) };
}

it(`survives a ${OUTAGE_MS} ms Redis outage and a restart empty, reconciling within 5 s without reconnects`, async () => {
  const a1 = await fx.connect(a, 'u-a1');
  const a2 = await fx.connect(a, 'u-a2');
  const b1 = await fx.connect(b, 'u-b1');
  const dualA = await fx.connect(a, 'u-dual');
  const dualB = await fx.connect(b, 'u-dual');
  const leaver = await fx.connect(a, 'u-leaver');
  await b1.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'u-leaver' && c.status === 'online'));
  for (const c of [a1, a2, b1]) expect(await c.request({ type: 'join', action: 'room' })).toMatchObject({ type: 'ack' });
  expect(await dualB.request({ type: 'join', action: 'side' })).toMatchObject({ type: 'ack' });
  await waitFor('members registered', async () => Object.keys((await redisState()).room).length === 3);
  expect(await a1.request({ type: 'publish', action: 'room', data: 'before' })).toMatchObject({ type: 'ack' });
  await b1.next((f) => f.type === 'message' && f.data === 'before');

  // Outage.
  const downAt = Date.now();
  await redis.stop();
  await waitFor('both nodes report not ready', async () => (await status(a, '/readyz')) === 503 && (await status(b, '/readyz')) === 503, 5000, 100);
  console.log(`readiness flipped to 503 ${Date.now() - downAt} ms after Redis stopped`);
  expect(await status(a, '/healthz')).toBe(200);
  expect(await status(b, '/healthz')).toBe(200);

  // A publish reaches members on the publisher's node, and the publisher learns it went no further.
  const during = await a1.request({ type: 'publish', action: 'room', data: 'during' });
  expect(during).toMatchObject({ type: 'error', code: 'unavailable' });
  await a2.next((f) => f.type === 'message' && f.data === 'during');

  // The world keeps changing while Redis is away: a join, a tab closed, a user gone, a newcomer.
  expect(await a2.request({ type: 'join', action: 'late' })).toMatchObject({ type: 'ack' });
  dualA.close();
  leaver.close();
  const newcomer = await fx.connect(b, 'u-new');
  expect(newcomer.frames[0].type).toBe('welcome');

  // Let the outage last, then bring up a fresh, empty server on the same port.
  await new Promise((r) => setTimeout(r, Math.max(0, downAt + OUTAGE_MS - Date.now())));
  const a2LocalMark = a2.frames.length;
  expect(await a1.request({ type: 'publish', action: 'room', data: 'still-local' })).toMatchObject({ type: 'error', code: 'unavailable' });
  await a2.next((f) => f.type === 'message' && f.data === 'still-local', 2000, a2LocalMark);
  await redis.start();
  const upAt = Date.now();
  console.log(`Redis was down for ${upAt - downAt} ms`);

  const expected = {
    online: ['u-a1', 'u-a2', 'u-b1', 'u-dual', 'u-new'],
    counts: { 'u-a1': '1', 'u-a2': '1', 'u-b1': '1', 'u-dual': '1', 'u-new': '1' },
    room: { 'u-a1': '1', 'u-a2': '1', 'u-b1': '1' },
    side: { 'u-dual': '1' },
    late: { 'u-a2': '1' },
  };
  let last: unknown;
  await waitFor('presence and membership rebuilt exactly', async () => {
    last = await redisState();
    return JSON.stringify(last) === JSON.stringify(expected);
  }, 5000, 50).catch((err) => {
    throw new Error(`${(err as Error).message}\nexpected ${JSON.stringify(expected)}\ngot      ${JSON.stringify(last)}`);
  });
  const reconciledMs = Date.now() - upAt;
  console.log(`presence and membership exact again ${reconciledMs} ms after Redis came back`);
  expect(reconciledMs).toBeLessThan(5000);

  // Cross-node delivery is back on the new server.
  await waitFor('both nodes ready again', async () => (await status(a, '/readyz')) === 200 && (await status(b, '/readyz')) === 200, 5000, 100);
  expect(await a1.request({ type: 'publish', action: 'room', data: 'after' })).toMatchObject({ type: 'ack' });
  await b1.next((f) => f.type === 'message' && f.data === 'after');

  // Nobody was disconnected; the failed publish never got a late ack; the cross-node member missed only it.
  for (const c of [a1, a2, b1, dualB, newcomer]) expect(c.closed).toBeUndefined();
  expect(a1.frames.filter((f) => f.id === during.id).map((f) => f.type)).toEqual(['error']);
  expect(b1.messages('room').map((m) => m.data)).toEqual(['before', 'after']);
  expect(a2.messages('room').map((m) => m.data)).toEqual(['before', 'during', 'still-local', 'after']);
}, OUTAGE_MS + 40_000);

/**
 * Changes made during the outage were never published (the bus was down) and the new server
 * starts empty, so no node has a counter to decrement for a user who left meanwhile. Clients
 * watching '*' get a `presence_reset` snapshot once the nodes re-synced: every watcher's view
 * (welcome, then changes and resets applied in order) must match the store again.
 */
it('brings every watcher\'s view of who is online back in line with the store (presence_reset)', async () => {
  // Watchers ('*', the default) on both nodes, and a user they all saw come online.
  const watchers = [await fx.connect(a, 'v-watch-a'), await fx.connect(b, 'v-watch-b')];
  const leaver = await fx.connect(a, 'v-leaver');
  await waitFor('both watchers saw the leaver online', () => watchers.every((w) => w.onlineView().includes('v-leaver')));

  // An outage of its own, during which one user leaves and another arrives.
  await redis.stop();
  await waitFor('both nodes report not ready', async () => (await status(a, '/readyz')) === 503 && (await status(b, '/readyz')) === 503, 5000, 100);
  const onA = await metric(a, 'gateway_connections');
  leaver.close();
  await waitFor('node a counted the leaver out', async () => (await metric(a, 'gateway_connections')) === onA - 1, 5000, 50);
  const newcomer = await fx.connect(b, 'v-new');
  await redis.start();
  const upAt = Date.now();

  const store = async () => (await redisState()).online.join();
  await waitFor('watchers converged on the store', async () => {
    const truth = await store();
    return watchers.every((w) => w.onlineView().join() === truth);
  }, 10_000, 100);
  console.log(`watchers' views matched the store ${Date.now() - upAt} ms after Redis came back`);
  for (const w of watchers) {
    expect(w.onlineView()).not.toContain('v-leaver');
    expect(w.onlineView()).toContain('v-new');
  }

  // Leave the store as found, so the other test's exact expectations hold in any order.
  for (const c of [...watchers, newcomer]) c.close();
  await waitFor('this test\'s users offline', async () => !(await redisState()).online.some((u) => u.startsWith('v-')));
}, 40_000);
