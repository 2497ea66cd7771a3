/**
 * Attacks on the upgrade request, against a gateway that takes RS256 tokens from a JWKS
 * endpoint (a small HTTP server started here) and checks issuer, audience and clock skew:
 * HS256/RS256 key confusion, foreign keys, wrong claims, `nbf`/`exp` around the skew, origins.
 * Every refusal is an HTTP status before any socket exists. An unreachable key server is
 * 503 (try later), never 401 (which tells a client its token is bad).
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { alive, FAULTS_ENV, gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { freePort } from '../harness/ports.js';
import type { RedisServer } from '../harness/redis.js';
import { uniquePrefix } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const ISS = 'https://issuer.test';
const AUD = 'realtime-gateway';
const ORIGIN = 'https://app.example';
const SKEW_S = 5;
let cluster: Cluster;
let redis: RedisServer;
let jwks: Server;
let gw: GatewayProcess;
let keys: { privateKey: CryptoKey; publicJwk: Record<string, unknown>; pem: string };
let foreignKey: CryptoKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  keys = { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }, pem: await exportSPKI(pair.publicKey) };
  foreignKey = (await generateKeyPair('RS256')).privateKey;
  jwks = createServer((req, res) => {
    if (req.url === '/hang') return; // accepts, never answers
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [keys.publicJwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  const jwksBase = `http://127.0.0.1:${(jwks.address() as { port: number }).port}`;
  cluster = await startCluster(fx, 'hs', {
    nodes: 1,
    env: {
      JWT_SECRET: '', BAD_TOKEN_BURST: '1000',
      JWKS_URL: `${jwksBase}/jwks.json`, JWT_ISSUER: ISS, JWT_AUDIENCE: AUD, JWT_CLOCK_SKEW_S: String(SKEW_S), ALLOWED_ORIGINS: ORIGIN,
    },
  });
  ({ redis, nodes: [gw] } = cluster);
});

afterAll(async () => {
  await cluster?.stop();
  jwks?.close();
});

const now = () => Math.floor(Date.now() / 1000);
const claims = (over: JWTPayload = {}): JWTPayload => ({ sub: 'u-hs', iss: ISS, aud: AUD, iat: now(), exp: now() + 300, ...over });
const without = (name: string) => Object.fromEntries(Object.entries(claims()).filter(([k]) => k !== name));

async function rs256(payload: JWTPayload, key: CryptoKey = keys.privateKey, header: Record<string, unknown> = {}): Promise<string> {
  return fx.remember(await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header }).sign(key));
}

async function hs256(payload: JWTPayload, secret: string): Promise<string> {
  return fx.remember(await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(secret)));
}

/** HTTP status of the upgrade: 101 when a welcome arrived. */
async function upgrade(target: GatewayProcess, token: string | undefined, origin: string | null = ORIGIN): Promise<number> {
  try {
    const c = await TestClient.connect(target.url, { token, origin: origin ?? undefined });
    c.close();
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

describe('RS256 through JWKS', () => {
  it('accepts a properly signed token with the right issuer and audience', async () => {
    expect(await upgrade(gw, await rs256(claims()))).toBe(101);
  });

  it('refuses HS256 tokens whose HMAC key is the public key (PEM or JWK bytes): no key confusion', async () => {
    for (const secret of [keys.pem, JSON.stringify(keys.publicJwk), JSON.stringify({ keys: [keys.publicJwk] })]) {
      expect(await upgrade(gw, await hs256(claims(), secret))).toBe(401);
    }
  });

  it('refuses alg:none, a foreign key under the same kid, and another algorithm for the same key', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const none = fx.remember(`${b64({ alg: 'none', kid: 'k1' })}.${b64(claims())}.`);
    expect(await upgrade(gw, none)).toBe(401);
    expect(await upgrade(gw, await rs256(claims(), foreignKey))).toBe(401);
    const pssKey = await importPKCS8(await exportPKCS8(keys.privateKey), 'PS256');
    const ps256 = fx.remember(await new SignJWT(claims()).setProtectedHeader({ alg: 'PS256', kid: 'k1' }).sign(pssKey));
    expect(await upgrade(gw, ps256)).toBe(401);
    expect(await upgrade(gw, await rs256(claims(), keys.privateKey, { kid: 'unknown-kid' }))).toBe(401);
  });

  it('refuses a wrong or missing audience or issuer, and a token without exp, sub or iat', async () => {
    const cases = {
      wrongAud: claims({ aud: 'another-service' }), wrongIss: claims({ iss: 'https://evil.test' }),
      noAud: without('aud'), noIss: without('iss'), noExp: without('exp'), noSub: without('sub'), noIat: without('iat'),
    };
    for (const [name, payload] of Object.entries(cases)) expect(await upgrade(gw, await rs256(payload)), name).toBe(401);
  });

  it(`applies JWT_CLOCK_SKEW_S (${SKEW_S} s) to nbf and exp, and no further`, async () => {
    expect(await upgrade(gw, await rs256(claims({ nbf: now() + 60 }))), 'nbf beyond the skew').toBe(401);
    expect(await upgrade(gw, await rs256(claims({ nbf: now() + 2 }))), 'nbf within the skew').toBe(101);
    expect(await upgrade(gw, await rs256(claims({ exp: now() - 60 }))), 'exp beyond the skew').toBe(401);
    expect(await upgrade(gw, await rs256(claims({ exp: now() - 2 }))), 'exp within the skew').toBe(101);
  });
});

describe('origins', () => {
  it('refuses every origin but the exact allowed one with 403, before looking at the token', async () => {
    const token = await rs256(claims());
    for (const origin of [null, 'https://evil.example', `${ORIGIN}.evil.example`, 'HTTPS://APP.EXAMPLE', 'null', `${ORIGIN}:443`]) {
      expect(await upgrade(gw, token, origin), String(origin)).toBe(403);
    }
    expect(await upgrade(gw, 'garbage', 'https://evil.example')).toBe(403);
    expect(await upgrade(gw, token, ORIGIN)).toBe(101);
  });
});

describe('key server unreachable', () => {
  it('answers 503, not 401, when the JWKS endpoint refuses connections or does not answer', async () => {
    const closedPort = await freePort();
    const jwksPort = (jwks.address() as { port: number }).port;
    const common = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('hs'), DB_PATH: tempDbPath(), JWT_SECRET: '', AUTH_TIMEOUT_MS: '500' };
    const [refused, hanging] = await Promise.all([
      fx.gateway({ ...common, JWKS_URL: `http://127.0.0.1:${closedPort}/jwks.json` }),
      fx.gateway({ ...common, JWKS_URL: `http://127.0.0.1:${jwksPort}/hang` }),
    ]);
    const token = await rs256(claims());
    expect(await upgrade(hanging, token), 'key server does not answer').toBe(503);
    expect(await upgrade(refused, token), 'key server refuses connections').toBe(503);
    expect(await alive(refused)).toBe(true);
    expect(await alive(hanging)).toBe(true);
  });
});
