/**
 * The per-user connection limit holds across the cluster: two gateway processes on one
 * Redis with MAX_CONNECTIONS_PER_USER=3 admit three connections of a user wherever they
 * land and refuse the next one with HTTP 429, atomically even when upgrades race, and the
 * stored counter always equals the user's open sockets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let prefix: string;

beforeAll(async () => {
  // No grace window: a closed socket stops counting at once, so the test need not wait it out.
  cluster = await startCluster(fx, 'limit', { nodes: 2, env: { MAX_CONNECTIONS_PER_USER: '3', PRESENCE_GRACE_MS: '0', PRESENCE_BATCH_MS: '10' } });
  ({ redis, prefix, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

/** What Redis holds for `user`: the cluster-wide counter, each node's share, online_users membership. */
async function stored(user: string) {
  const r = redis.client();
  const [count, onA, onB, online] = await Promise.all([
    r.hget(`${prefix}presence:counts`, user),
    r.hget(`${prefix}presence:node:limit-a`, user),
    r.hget(`${prefix}presence:node:limit-b`, user),
    r.sismember(`${prefix}online_users`, user),
  ]);
  return { count: Number(count ?? 0), a: Number(onA ?? 0), b: Number(onB ?? 0), online: online === 1 };
}

const open = (cs: TestClient[]) => cs.filter((c) => !c.closed).length;

describe('MAX_CONNECTIONS_PER_USER across two nodes', () => {
  it('admits 2 + 1 connections, refuses the 4th on either node with 429, and admits again after a close', async () => {
    const mine = [await fx.connect(a, 'max'), await fx.connect(a, 'max'), await fx.connect(b, 'max')];
    expect(await stored('max')).toEqual({ count: 3, a: 2, b: 1, online: true });
    for (const gw of [a, b]) {
      await expect(TestClient.connect(gw.url, { token: await fx.mint('max') })).rejects.toMatchObject({ status: 429 });
    }
    // Refusals count nowhere; other users are not limited by it.
    expect(await stored('max')).toEqual({ count: 3, a: 2, b: 1, online: true });
    await fx.connect(b, 'someone-else');

    mine[0].close();
    await waitFor('the closed socket to stop counting', async () => (await stored('max')).count === 2);
    mine.push(await fx.connect(b, 'max'));
    expect(await stored('max')).toEqual({ count: open(mine), a: 1, b: 2, online: true });
    await expect(TestClient.connect(a.url, { token: await fx.mint('max') })).rejects.toMatchObject({ status: 429 });

    for (const c of mine) c.close();
    await waitFor('the user to go offline', async () => !(await stored('max')).online);
    expect(await stored('max')).toEqual({ count: 0, a: 0, b: 0, online: false });
  });

  it('lets exactly 3 of 8 racing upgrades through, split over both nodes', async () => {
    const token = await fx.mint('racer');
    const attempts = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => TestClient.connect((i % 2 ? a : b).url, { token })),
    );
    const admitted = attempts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    for (const c of admitted) fx.track(c);
    const refused = attempts.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { status?: number }).status] : []));
    expect(admitted).toHaveLength(3);
    expect(refused).toEqual([429, 429, 429, 429, 429]);
    const s = await stored('racer');
    expect(s).toMatchObject({ count: 3, online: true });
    expect(s.a + s.b).toBe(3);
    for (const c of admitted) c.close();
    await waitFor('all racers counted out', async () => (await stored('racer')).count === 0);
    expect(await stored('racer')).toEqual({ count: 0, a: 0, b: 0, online: false });
  });
});
