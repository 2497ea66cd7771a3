/**
 * The presence grace window (PRESENCE_GRACE_MS): a socket that goes away (page reload 1001,
 * network loss 1006, a node's 1012) keeps its user online for the grace, so a user who comes
 * back in time (on any node) never flaps offline, and one who does not goes offline once the
 * grace is over. A deliberate close (1000, signing out) ends presence at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const GRACE_MS = 1500;

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let prefix: string;

beforeAll(async () => {
  cluster = await startCluster(fx, 'grace', { nodes: 2, env: { PRESENCE_BATCH_MS: '10', PRESENCE_GRACE_MS: String(GRACE_MS) } });
  ({ redis, prefix, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

describe('the presence grace window', () => {
  it('keeps a user who reconnects to another node online without a flap, and ends one who stays away after the grace', async () => {
    const storeEvents: Array<{ userId: string; status: string }> = [];
    const sub = redis.client();
    await sub.subscribe(`${prefix}presence`);
    sub.on('message', (_c: string, message: string) => storeEvents.push(...JSON.parse(message).changes));

    const watcher = await fx.connect(a, 'grace-watcher');
    const returning = await fx.connect(a, 'returning');
    const leaving = await fx.connect(a, 'leaving');
    const signingOut = await fx.connect(a, 'signing-out');
    const saw = (user: string, status: string) => watcher.presence(user).some((c) => c.status === status);
    await waitFor('all online for the watcher', () => ['returning', 'leaving', 'signing-out'].every((u) => saw(u, 'online')));

    const closedAt = Date.now();
    returning.close(1001); // a page reload
    leaving.ws.terminate(); // the network goes away: the node sees 1006
    signingOut.close(1000); // a deliberate sign-out
    await Promise.all([returning.waitClosed(), leaving.waitClosed(), signingOut.waitClosed()]);
    const back = await fx.connect(b, 'returning');
    const backAfter = Date.now() - closedAt;
    expect(back.frames[0].node).toBe('grace-b');
    expect(backAfter).toBeLessThan(GRACE_MS / 2);
    await waitFor('signing-out offline at once', () => saw('signing-out', 'offline'), GRACE_MS / 2);
    // Inside the grace: the other two are still online for everyone.
    const r = redis.client();
    expect(await r.smismember(`${prefix}online_users`, 'returning', 'leaving')).toEqual([1, 1]);

    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'leaving' && c.status === 'offline'), GRACE_MS + 3000);
    const offlineAfter = Date.now() - closedAt;
    console.log(`grace ${GRACE_MS} ms: offline after ${offlineAfter} ms; the other user was back on another node after ${backAfter} ms`);
    expect(offlineAfter).toBeGreaterThanOrEqual(GRACE_MS - 20);
    expect(offlineAfter).toBeLessThan(GRACE_MS + 2000);

    // Node a has counted the returning user's old socket out too (2 -> 1), without an event.
    await waitFor('old connection counted out', async () => (await r.hget(`${prefix}presence:counts`, 'returning')) === '1', 3000);
    expect(watcher.presence('returning').map((c) => c.status)).toEqual(['online']);
    expect(storeEvents.filter((e) => e.userId === 'returning').map((e) => e.status)).toEqual(['online']);
    expect(storeEvents.filter((e) => e.userId === 'leaving').map((e) => e.status)).toEqual(['online', 'offline']);
    expect(await r.smismember(`${prefix}online_users`, 'returning', 'leaving')).toEqual([1, 0]);
  });
});
