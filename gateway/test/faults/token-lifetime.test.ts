/**
 * A token expires on a live socket: the client is warned TOKEN_EXPIRY_WARNING_S before
 * `exp` (`token_expiring`), then closed with 4001 at `exp` unless it sent `refresh` with a
 * newer token for the same user. A refresh for another user is `forbidden`, an invalid one
 * `unauthorized`; neither changes anything. The sweeper runs once a second, so every
 * transition happens within about a second of its moment.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import { TEST_SECRET, type GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const TTL_S = 4;
const WARNING_S = 2;
let cluster: Cluster;
let gw: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'ttl', { nodes: 1, env: { TOKEN_EXPIRY_WARNING_S: String(WARNING_S) } });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

/** `exp` of a JWT, in seconds. */
const expOf = (token: string): number => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp;

describe.concurrent('a token that expires on a live socket', () => {
  it('warns with token_expiring, then closes with 4001 at exp', async () => {
    const token = await fx.mint('expiring', TTL_S);
    const c = await fx.connectWith(gw, token);
    const expMs = expOf(token) * 1000;
    const warning = await c.next((f) => f.type === 'token_expiring', (TTL_S + 1) * 1000);
    const warnedAt = Date.now();
    expect(warning.expiresAt).toBe(expMs);
    expect(warnedAt).toBeGreaterThanOrEqual(expMs - WARNING_S * 1000 - 50);
    expect(warnedAt).toBeLessThan(expMs);
    const closed = await c.waitClosed((TTL_S + 2) * 1000);
    const closedAt = Date.now();
    console.log(`token_expiring ${expMs - warnedAt} ms before exp; closed ${closedAt - expMs} ms after exp with ${closed.code}`);
    expect(closed.code).toBe(4001);
    expect(closedAt).toBeGreaterThanOrEqual(expMs - 50);
    expect(closedAt).toBeLessThan(expMs + 2500); // one sweep (1 s) plus scheduling slack on a busy machine
    expect(await metric(gw, 'gateway_token_expired_closes_total')).toBeGreaterThanOrEqual(1);
  });

  it('stays open past the first exp after a refresh with a newer token for the same user', async () => {
    const token = await fx.mint('refresher', TTL_S);
    const c = await fx.connectWith(gw, token);
    const firstExpMs = expOf(token) * 1000;
    await c.next((f) => f.type === 'token_expiring', (TTL_S + 1) * 1000);
    const newer = await fx.mint('refresher', 120);
    const ack = await c.request({ type: 'refresh', token: newer });
    expect(ack).toMatchObject({ type: 'ack', result: { expiresAt: expOf(newer) * 1000 } });
    // An older token does not shorten the lifetime: still acked with the later expiry.
    expect(await c.request({ type: 'refresh', token: await fx.mint('refresher', TTL_S) })).toMatchObject({ result: { expiresAt: expOf(newer) * 1000 } });
    // Past the first expiry and a full sweep after it, the socket still works.
    await waitFor('first exp and one sweep have passed', () => Date.now() > firstExpMs + 1500, (TTL_S + 3) * 1000, 100);
    c.send({ type: 'ping', id: 'alive' });
    await c.next((f) => f.type === 'pong' && f.id === 'alive');
    expect(c.closed).toBeUndefined();
    expect(c.frames.filter((f) => f.type === 'token_expiring')).toHaveLength(1);
  }, 15_000);

  it('refuses a refresh for another user (forbidden) and an invalid or expired one (unauthorized), keeping the old expiry', async () => {
    const token = await fx.mint('owner', TTL_S);
    const c = await fx.connectWith(gw, token);
    const expMs = expOf(token) * 1000;
    expect(await c.request({ type: 'refresh', token: await fx.mint('intruder', 120) })).toMatchObject({ type: 'error', code: 'forbidden' });
    const now = Math.floor(Date.now() / 1000);
    const expired = fx.remember(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('owner').setExpirationTime(now - 60)
      .sign(new TextEncoder().encode(TEST_SECRET)));
    const forged = fx.remember(await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('owner').setExpirationTime(now + 120)
      .sign(new TextEncoder().encode('some-other-secret-some-other-secret-0123')));
    for (const token of ['garbage', expired, forged, `${await fx.mint('owner', 120)}x`]) {
      expect(await c.request({ type: 'refresh', token })).toMatchObject({ type: 'error', code: 'unauthorized' });
    }
    expect(await c.request({ type: 'refresh', token: 5 })).toMatchObject({ type: 'error', code: 'bad_request' });
    // None of these extended the token: the socket still closes at the original exp.
    const closed = await c.waitClosed((TTL_S + 2) * 1000);
    expect(closed.code).toBe(4001);
    expect(Date.now()).toBeLessThan(expMs + 2500);
  });
});
