/**
 * Signing in and sessions, probed as the security review did (issue 12, items 4 and 5): a
 * wrong password from one address never locks the owner out at another; sign-ins run off the
 * event loop; counters are shared by the nodes; failures are logged without the password; a
 * session ends at a password change and at its absolute age; tokens claiming a future `iat`
 * or a life to 2999 are refused; a token's `name` never passes for a directory user.
 */
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import { TEST_SECRET, type GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: { TRUSTED_PROXIES: '127.0.0.1', SESSION_MAX_AGE_S: '600', LOGIN_TOKEN_TTL_S: '300' } });
let cluster: Cluster;
let dbPath: string;
let a: GatewayProcess;
let b: GatewayProcess;
const key = new TextEncoder().encode(TEST_SECRET);
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  cluster = await startCluster(fx, 'sess', {
    nodes: 2,
    users: [
      { username: 'bob', displayName: 'Bob Builder', password: 'builder' },
      { username: 'carol', displayName: 'Carol C', password: 'carol-pw' },
      { username: 'dave', password: 'dave-pw' },
      { username: 'alice', displayName: 'Alice Liddell' },
      ...Array.from({ length: 10 }, (_, i) => ({ username: `loop${i + 1}`, password: `loop-pw-${i + 1}` })),
    ],
  });
  ({ db: dbPath, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

/** POST /api/login as if from `ip` (the gateways trust 127.0.0.1 as a proxy). */
async function login(gw: GatewayProcess, username: string, password: string, ip: string) {
  const res = await fetch(`${gw.http}/api/login`, {
    method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: JSON.stringify({ username, password }),
  });
  const body = await res.json() as { accessToken?: string };
  if (body.accessToken) fx.remember(body.accessToken);
  return { status: res.status, token: body.accessToken };
}

async function api(gw: GatewayProcess, path: string, token: string, method = 'GET') {
  const res = await fetch(`${gw.http}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: await res.json() as Record<string, unknown> };
}

/** A token signed with the gateways' secret, with exactly these claims. */
async function forge(claims: Record<string, unknown>): Promise<string> {
  return fx.remember(await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(key));
}

async function upgradeStatus(gw: GatewayProcess, token: string): Promise<number> {
  try {
    fx.track(await TestClient.connect(gw.url, { token }));
    return 101;
  } catch (err) {
    return (err as { status?: number }).status ?? 0;
  }
}

describe('sign-in', () => {
  it('does not lock the owner out: wrong guesses count per username and address', async () => {
    for (let i = 0; i < 5; i += 1) expect((await login(a, 'bob', `guess-${i}`, '198.51.100.7')).status).toBe(401);
    expect((await login(a, 'bob', 'builder', '198.51.100.7')).status).toBe(429);
    expect((await login(a, 'bob', 'builder', '203.0.113.20')).status).toBe(200);
    expect((await login(a, 'bob', 'builder', '203.0.113.21')).status).toBe(200);
  });

  it('shares the counters between nodes', async () => {
    for (let i = 0; i < 5; i += 1) expect((await login(a, 'carol', `nope-${i}`, '198.51.100.8')).status).toBe(401);
    expect((await login(b, 'carol', 'carol-pw', '198.51.100.8')).status).toBe(429);
    expect((await login(b, 'carol', 'carol-pw', '198.51.100.9')).status).toBe(200);
  });

  it('logs each failure with the username and address, never the password', async () => {
    await login(a, 'dave', 'hunter2-not-it', '198.51.100.10');
    const line = await waitFor('the failure in the log', () => a.logs.find((l) => l.includes('sign-in failed') && l.includes('198.51.100.10')));
    expect(line).toContain('"username":"dave"');
    expect(a.logs.join('\n')).not.toContain('hunter2-not-it');
  });

  it('checks passwords off the event loop: /healthz answers while ten sign-ins run', async () => {
    const order: string[] = [];
    const logins = Array.from({ length: 10 }, (_, i) => login(b, `loop${i + 1}`, `loop-pw-${i + 1}`, `192.0.2.${i + 1}`).then((r) => {
      expect(r.status).toBe(200);
      order.push('login');
    }));
    // Once the sign-ins are on their way (ten scrypt runs, ~50 ms of CPU each), ask for /healthz:
    // a node hashing on its event loop answers it only after them.
    await new Promise((r) => setTimeout(r, 20));
    const health = fetch(`${b.http}/healthz`).then(() => order.push('healthz'));
    await Promise.all([...logins, health]);
    expect(order.indexOf('healthz')).toBeLessThan(5);
  });
});

describe('sessions', () => {
  it('end at a password change: the old token is refused at the upgrade and at refresh', async () => {
    const { token } = await login(a, 'alice', 'x', '192.0.2.50').then(async () => {
      const users = new SqliteUserDirectory(dbPath);
      users.setPassword('alice', 'wonderland');
      users.close();
      return login(a, 'alice', 'wonderland', '192.0.2.50');
    });
    expect(await upgradeStatus(a, token!)).toBe(101);
    const users = new SqliteUserDirectory(dbPath);
    users.setPassword('alice', 'looking-glass');
    users.close();
    expect(await upgradeStatus(a, token!)).toBe(401);
    expect((await api(a, '/api/refresh', token!, 'POST')).status).toBe(401);
    expect((await api(b, '/api/me', token!)).status).toBe(401);
    const fresh = await login(b, 'alice', 'looking-glass', '192.0.2.50');
    expect(await upgradeStatus(a, fresh.token!)).toBe(101);
  });

  it('keep their sign-in time across refreshes and end at SESSION_MAX_AGE_S', async () => {
    const { token } = await login(a, 'bob', 'builder', '192.0.2.60');
    const refreshed = await api(a, '/api/refresh', token!, 'POST');
    expect(refreshed.status).toBe(200);
    const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());
    expect(claims(fx.remember(refreshed.body.accessToken as string)).auth_time).toBe(claims(token!).auth_time);
    const users = new SqliteUserDirectory(dbPath);
    const bob = users.byUsername('bob')!;
    users.close();
    const old = await forge({ sub: bob.id, iat: now(), exp: now() + 300, auth_time: now() - 700, ver: bob.tokenVersion });
    expect(await upgradeStatus(a, old)).toBe(401);
    expect((await api(a, '/api/refresh', old, 'POST')).status).toBe(401);
    const nearEnd = await forge({ sub: bob.id, iat: now(), exp: now() + 300, auth_time: now() - 590, ver: bob.tokenVersion });
    const last = await api(a, '/api/refresh', nearEnd, 'POST');
    expect(last.status).toBe(401); // fewer than 60 s of session left: sign in again
  });

  it('refuse tokens that claim a future iat or a life beyond TOKEN_MAX_TTL_S', async () => {
    expect(await upgradeStatus(a, await forge({ sub: 'u-future', iat: now() + 3600, exp: now() + 7200 }))).toBe(401);
    expect(await upgradeStatus(a, await forge({ sub: 'u-2999', iat: now(), exp: 32503680000 }))).toBe(401);
    expect(await upgradeStatus(a, await forge({ sub: 'u-noiat', exp: now() + 600 }))).toBe(401);
    expect(await upgradeStatus(a, await forge({ sub: 'u-fine', iat: now(), exp: now() + 600 }))).toBe(101);
  });

  it('never let a token\'s name claim pass for a directory user', async () => {
    const token = await forge({ sub: 'stranger-1', name: 'alice', iat: now(), exp: now() + 600 });
    const me = await api(a, '/api/me', token);
    expect(me.body).toMatchObject({ id: 'stranger-1', username: 'stranger-1', displayName: 'alice' });
    const c = await fx.connectWith(a, token);
    expect(c.frames[0].user).toMatchObject({ id: 'stranger-1', username: 'stranger-1' });
    const bidi = await forge({ sub: 'stranger-2', name: 'Alice Liddell\u202e', iat: now(), exp: now() + 600 });
    expect((await api(a, '/api/me', bidi)).body).toMatchObject({ username: 'stranger-2', displayName: 'stranger-2' });
  });
});
