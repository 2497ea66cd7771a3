/**
 * Rate limits seen from the wire: a connection's frames go through a token bucket
 * (MSG_RATE_PER_S, MSG_BURST); frames past it are dropped with `rate_limited` (carrying the frame's id), and a
 * connection that keeps going (RATE_STRIKES_BEFORE_CLOSE dropped frames) is closed with 4029.
 * Failed upgrades are counted per IP: past BAD_TOKEN_BURST the address gets 429 for every
 * upgrade, valid token or not, until the bucket refills (one per second).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const RATE = 100;
const BURST = 20;
const STRIKES = 10;
const BAD_BURST = 5;
let cluster: Cluster;
let gw: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'rate', {
    nodes: 1,
    env: { MSG_RATE_PER_S: String(RATE), MSG_BURST: String(BURST), RATE_STRIKES_BEFORE_CLOSE: String(STRIKES), BAD_TOKEN_BURST: String(BAD_BURST) },
  });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

const ping = (n: number) => JSON.stringify({ type: 'ping', id: n });

async function upgradeStatus(token: string): Promise<number> {
  try {
    const c = await TestClient.connect(gw.url, { token, waitWelcome: false });
    c.close();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

describe('frames per connection', () => {
  it('answers a burst past MSG_BURST with rate_limited errors and keeps the socket open', async () => {
    const c = await fx.connect(gw, 'bursty');
    for (let i = 0; i < BURST + 5; i += 1) c.send(ping(i));
    await waitFor('every frame answered', () => c.frames.filter((f) => f.type === 'pong' || f.type === 'error').length >= BURST + 5);
    const pongs = c.frames.filter((f) => f.type === 'pong');
    const limited = c.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited');
    // The bucket refills at RATE/s while the burst is in flight: on a busy machine a few more may pass.
    expect(pongs.length).toBeGreaterThanOrEqual(BURST);
    expect(pongs.length + limited.length).toBe(BURST + 5);
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(pongs.slice(0, BURST).map((p) => p.id)).toEqual([...Array(BURST).keys()]); // the first BURST pass, in order
    // Each refused frame is answered with its own id, so a client can retry that request.
    expect(limited.map((e) => e.id).sort((a, b) => a - b)).toEqual([...Array(BURST + 5).keys()].filter((i) => !pongs.some((p) => p.id === i)));
    expect(c.closed).toBeUndefined();
    // Once a token has refilled, the connection works again.
    await waitFor('a frame passes again', async () => {
      const mark = c.frames.length;
      c.send({ type: 'ping', id: 'after' });
      return (await c.next((f) => f.id === 'after', 1000, mark)).type === 'pong';
    }, 2000, 1000 / RATE);
    expect(await metric(gw, 'gateway_rate_limited_total')).toBeGreaterThanOrEqual(limited.length);
  });

  it('closes a connection that keeps flooding with 4029', async () => {
    const c = await fx.connect(gw, 'flooder');
    const other = await fx.connect(gw, 'neighbour');
    for (let i = 0; i < BURST + STRIKES + 10; i += 1) c.send(ping(i));
    const closed = await c.waitClosed(5000);
    expect(closed.code).toBe(4029);
    const limited = c.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
    expect(limited).toBeLessThanOrEqual(STRIKES);
    // Another connection from the same address is not affected.
    other.send({ type: 'ping', id: 'neighbour' });
    await other.next((f) => f.type === 'pong' && f.id === 'neighbour');
  });

  it('forgives a client that slows down: strikes reset once its bucket refilled', async () => {
    const c = await fx.connect(gw, 'occasional');
    const rounds = Math.ceil(STRIKES / 2) + 1;
    for (let round = 0; round < rounds; round += 1) {
      // Each round: a burst 4 frames over the limit, then quiet until the bucket is full again.
      const mark = c.frames.length;
      for (let i = 0; i < BURST + 4; i += 1) c.send(ping(i));
      await waitFor('round answered', () => c.frames.length - mark >= BURST + 4 || c.closed);
      expect(c.closed, `closed in round ${round + 1} of ${rounds}`).toBeUndefined();
      await new Promise((r) => setTimeout(r, (1000 * BURST) / RATE + 50));
    }
    const limited = c.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
    expect(limited).toBeGreaterThan(STRIKES); // more dropped frames in total than the close threshold ...
    expect(c.closed).toBeUndefined(); // ... yet never persistently limited
  });
});

describe('failed upgrades per IP', () => {
  it(`refuses even a valid token with 429 after ${BAD_BURST} bad ones, then lets it in once the bucket refills`, async () => {
    const valid = await fx.mint('patient');
    for (let i = 0; i < BAD_BURST; i += 1) expect(await upgradeStatus(fx.remember(`not-a-token-${i}`))).toBe(401);
    const refusedAt = Date.now();
    expect(await upgradeStatus(valid)).toBe(429);
    expect(await upgradeStatus('still-bad')).toBe(429);
    // A plain HTTP route is not affected by the upgrade limiter.
    expect((await fetch(`${gw.http}/healthz`)).status).toBe(200);
    await waitFor('valid token accepted again', async () => (await upgradeStatus(valid)) === 101, 5000, 100);
    const waited = Date.now() - refusedAt;
    console.log(`after ${BAD_BURST} bad tokens, a valid token from the same IP was refused for ${waited} ms`);
    expect(waited).toBeGreaterThanOrEqual(500);
    expect(await metric(gw, 'gateway_upgrades_total')).toBeGreaterThan(BAD_BURST);
  });
});
