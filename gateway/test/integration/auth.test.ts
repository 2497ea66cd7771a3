/**
 * Authentication happens before the upgrade: a refused request gets an HTTP status and no
 * socket, and never touches presence.
 */
import { SignJWT, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import { TEST_SECRET, type GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';

const fx = gatewayFixture();
let cluster: Cluster;
let redis: RedisServer;
let gw: GatewayProcess;
let strict: GatewayProcess;
let prefix: string;
const secret = new TextEncoder().encode(TEST_SECRET);

beforeAll(async () => {
  cluster = await startCluster(fx, 'auth', { nodes: 0 });
  ({ redis, prefix } = cluster);
  [gw, strict] = await Promise.all([fx.gateway(cluster.env), fx.gateway({ ...cluster.env, ALLOWED_ORIGINS: 'https://app.example' })]);
});

afterAll(() => cluster?.stop());

async function status(url: string, opts: Parameters<typeof TestClient.connect>[1]): Promise<number> {
  try {
    const c = await TestClient.connect(url, opts);
    c.close();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

const sign = async (claims: Record<string, unknown>, alg = 'HS256', key: Uint8Array | CryptoKey = secret) =>
  fx.remember(await new SignJWT(claims).setProtectedHeader({ alg }).sign(key));

describe('upgrade authentication', () => {
  it('accepts a token in the query and reports the user in the welcome', async () => {
    const c = await TestClient.connect(gw.url, { token: await fx.mint('u-query', undefined, 'Query User') });
    const welcome = c.frames[0];
    // Not in the directory: shown under its own id; the token's name is only a display name.
    expect(welcome).toMatchObject({ type: 'welcome', node: gw.nodeId, user: { id: 'u-query', username: 'u-query', displayName: 'Query User' } });
    expect(welcome.online).toContain('u-query');
    c.close();
  });

  it('accepts the subprotocol pair "bearer, <token>" and selects bearer', async () => {
    const c = await TestClient.connect(gw.url, { protocols: ['bearer', await fx.mint('u-proto')] });
    expect(c.ws.protocol).toBe('bearer');
    expect(c.frames[0].user.id).toBe('u-proto');
    c.close();
  });

  it('refuses missing, forged, expired, alg:none and wrongly signed tokens with 401, touching no presence', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = fx.remember(`${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'u-none', exp: now + 60 })).toString('base64url')}.`);
    const { privateKey } = await generateKeyPair('RS256');
    const bad = {
      missing: undefined,
      garbage: 'not-a-jwt',
      forged: await sign({ sub: 'u-forged', exp: now + 60 }, 'HS256', new TextEncoder().encode('another-secret-another-secret-012345')),
      expired: await sign({ sub: 'u-expired', exp: now - 600 }),
      noExp: await sign({ sub: 'u-noexp' }),
      noSub: await sign({ exp: now + 60 }),
      algNone: unsigned,
      rs256: await sign({ sub: 'u-rs', exp: now + 60 }, 'RS256', privateKey),
    };
    for (const [name, token] of Object.entries(bad)) {
      expect(await status(gw.url, { token, waitWelcome: false }), name).toBe(401);
    }
    const online = await redis.client().smembers(`${prefix}online_users`);
    for (const id of ['u-none', 'u-forged', 'u-expired', 'u-noexp', 'u-rs']) expect(online).not.toContain(id);
  });

  it('refuses other origins with 403 when ALLOWED_ORIGINS is set', async () => {
    const token = await fx.mint('u-origin');
    expect(await status(strict.url, { token, origin: 'https://evil.example', waitWelcome: false })).toBe(403);
    expect(await status(strict.url, { token, origin: 'https://app.example' })).toBe(101);
  });

  it('exchanges a valid token for a fresh one at POST /api/refresh, and refuses without one', async () => {
    expect((await fetch(`${gw.http}/api/refresh`, { method: 'POST' })).status).toBe(401);
    const res = await fetch(`${gw.http}/api/refresh`, { method: 'POST', headers: { authorization: `Bearer ${await fx.mint('u-refresh', 60, 'R')}` } });
    expect(res.status).toBe(200);
    const { accessToken, expiresAt } = await res.json();
    expect(expiresAt).toBeGreaterThan(Date.now() + 60_000);
    const c = await TestClient.connect(gw.url, { token: fx.remember(accessToken) });
    expect(c.frames[0].user.id).toBe('u-refresh');
    c.close();
  });

  it('never writes a token to the log', async () => {
    const token = await fx.mint('u-log');
    await status(gw.url, { token });
    await status(gw.url, { token: `${token}x`, waitWelcome: false });
    const signature = token.split('.')[2];
    expect(gw.logs.join('\n')).not.toContain(signature);
  });
});
