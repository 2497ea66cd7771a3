/**
 * Nodes that die without a goodbye, restart under the same id, or stop gracefully:
 * presence must end up right for everyone, quickly, with no false offline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let survivor: GatewayProcess;
let env: Record<string, string>;

const node = (nodeId: string) => fx.gateway({ ...env, NODE_ID: nodeId });

const went = (c: TestClient, userId: string, status: string) =>
  c.presence(userId).some((x) => x.status === status);

beforeAll(async () => {
  // The default lease (9 s) is what the 15 s target is measured with.
  cluster = await startCluster(fx, 'crash', { nodes: ['survivor'], env: { PRESENCE_BATCH_MS: '10' } });
  ({ redis, env, nodes: [survivor] } = cluster);
});

afterAll(() => cluster?.stop());

describe('a node killed with SIGKILL', () => {
  it('has its users offline for everyone within 15 s, and no user with a tab elsewhere goes offline', async () => {
    const victim = await node('victim');
    const watcher = await fx.connect(survivor, 'watcher');
    const only = await fx.connect(victim, 'only-on-victim');
    const both1 = await fx.connect(victim, 'on-both');
    const both2 = await fx.connect(survivor, 'on-both');
    await only.request({ type: 'join', action: 'crashroom' });
    await waitFor('both online for watcher', () => went(watcher, 'only-on-victim', 'online') && went(watcher, 'on-both', 'online'));
    const membersKey = `${env.REDIS_PREFIX}members:crashroom`;
    await waitFor('the membership registered', async () => (await redis.client().hlen(membersKey)) === 1);

    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'only-on-victim' && c.status === 'offline'), 15_000);
    const elapsed = Date.now() - killedAt;
    console.log(`SIGKILL to offline event on the other node: ${elapsed} ms`);
    expect(elapsed).toBeLessThan(15_000);
    expect(went(watcher, 'on-both', 'offline')).toBe(false);
    const r = redis.client();
    expect(await r.sismember(`${env.REDIS_PREFIX}online_users`, 'only-on-victim')).toBe(0);
    expect(await r.sismember(`${env.REDIS_PREFIX}online_users`, 'on-both')).toBe(1);
    expect(await r.hget(`${env.REDIS_PREFIX}presence:counts`, 'on-both')).toBe('1');
    expect(await r.hlen(membersKey)).toBe(0);
    expect(both2.closed).toBeUndefined();
    void both1;
  }, 30_000);

  it('is settled at once when it restarts under the same NODE_ID', async () => {
    const first = await node('phoenix');
    const watcher = await fx.connect(survivor, 'watcher2');
    await fx.connect(first, 'phoenix-user');
    await waitFor('online', () => went(watcher, 'phoenix-user', 'online'));
    await first.kill('SIGKILL');
    const restartedAt = Date.now();
    await node('phoenix');
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === 'phoenix-user' && c.status === 'offline'), 5000);
    console.log(`restart under the same NODE_ID settled its previous incarnation in ${Date.now() - restartedAt} ms`);
    expect(await redis.client().hget(`${env.REDIS_PREFIX}presence:counts`, 'phoenix-user')).toBeNull();
  });
});

describe('a graceful stop', () => {
  it('closes every client with 1012, removes its presence, and exits 0 within 10 s', async () => {
    const leaving = await node('leaving');
    const watcher = await fx.connect(survivor, 'watcher3');
    const c = await fx.connect(leaving, 'graceful-user');
    await waitFor('online', () => went(watcher, 'graceful-user', 'online'));
    const started = Date.now();
    const exit = leaving.kill('SIGTERM');
    expect((await c.waitClosed()).code).toBe(1012);
    expect(await exit).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await watcher.next((f) => f.type === 'presence' && f.changes.some((x: any) => x.userId === 'graceful-user' && x.status === 'offline'), 3000);
    expect(await redis.client().sismember(`${env.REDIS_PREFIX}online_users`, 'graceful-user')).toBe(0);
  });
});
