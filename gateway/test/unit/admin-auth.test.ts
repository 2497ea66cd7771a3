/**
 * Who may use the operator's page (api/admin-auth.ts), on the memory twins and an in-memory
 * directory: the switch, sign-in, the cookie, the checks of every request (session, user still an
 * operator, same token version, Origin, CSRF token) and sign-out. The browser side is
 * web/test/browser/admin.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAdminAuth, fromOwnOrigin, sessionIdOf, type AdminAuth } from '../../src/api/admin-auth.js';
import { MemorySharedLimits } from '../../src/limits/memory.js';
import { createLogger } from '../../src/log.js';
import { MemoryOperatorSessions } from '../../src/operators/memory.js';
import type { ApiReply } from '../../src/transport/http.js';
import type { RouteRequest } from '../../src/transport/server.js';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';

const HOST = 'gw.example:8080';
const ORIGIN = `https://${HOST}`;

function request(headers: Record<string, string> = {}, ip = '10.0.0.1'): RouteRequest {
  const lower = Object.fromEntries(Object.entries({ host: HOST, ...headers }).map(([k, v]) => [k.toLowerCase(), v]));
  return { query: '', ip, param: () => '', header: (name) => lower[name] ?? '' };
}
const json = (value: unknown) => async () => Buffer.from(JSON.stringify(value));

let users: SqliteUserDirectory;
let store: MemoryOperatorSessions;
let auth: AdminAuth;

beforeEach(() => {
  users = new SqliteUserDirectory(':memory:');
  store = new MemoryOperatorSessions();
  auth = createAdminAuth({ users, limits: new MemorySharedLimits(), store, log: createLogger('silent', 't'), ttlS: 3600, tls: false });
  users.add({ username: 'root', password: 'root-pw' });
  users.add({ username: 'alice', password: 'alice-pw' });
});
afterEach(() => users.close());

async function signIn(username: string, password: string, headers: Record<string, string> = { origin: ORIGIN, 'content-type': 'application/json' }) {
  return (await auth.routes.post['/admin/api/signin'](request(headers), json({ username, password }))) as ApiReply & { body: Record<string, unknown> };
}

/** Signs root in; the cookie header and CSRF token of the session. */
async function rootSession(): Promise<{ cookie: string; csrf: string }> {
  const r = await signIn('root', 'root-pw');
  expect(r.status).toBe(200);
  return { cookie: r.headers!['set-cookie'].split(';')[0], csrf: r.body.csrf as string };
}

describe('operator sign-in', () => {
  it('is off (404) while no operator exists, page API and sign-in alike', async () => {
    expect((await signIn('root', 'root-pw')).status).toBe(404);
    expect((await auth.operator(request())) as ApiReply).toMatchObject({ status: 404 });
    users.setAdmin('root', true);
    expect((await signIn('root', 'root-pw')).status).toBe(200);
  });

  it('refuses a regular user\'s right password with 403 and creates nothing', async () => {
    users.setAdmin('root', true);
    const r = await signIn('alice', 'alice-pw');
    expect(r).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(r.headers?.['set-cookie']).toBeUndefined();
    expect(Object.keys(r.body).sort()).toEqual(['error', 'message']);
  });

  it('refuses a sign-in without an Origin of this host', async () => {
    users.setAdmin('root', true);
    expect((await signIn('root', 'root-pw', { 'content-type': 'application/json' })).status).toBe(403);
    expect((await signIn('root', 'root-pw', { 'content-type': 'application/json', origin: 'https://evil.example' })).status).toBe(403);
  });

  it('sets an HttpOnly, SameSite=Strict cookie on /admin with the session\'s lifetime, Secure only over TLS', async () => {
    users.setAdmin('root', true);
    const plain = (await signIn('root', 'root-pw')).headers!['set-cookie'];
    expect(plain).toMatch(/^gw_operator=[A-Za-z0-9_-]{43}; Path=\/admin; Max-Age=3600; HttpOnly; SameSite=Strict$/);
    const proxied = await signIn('root', 'root-pw', { origin: ORIGIN, 'content-type': 'application/json', 'x-forwarded-proto': 'https' });
    expect(proxied.headers!['set-cookie']).toMatch(/; Secure$/);
  });

  it('answers 429 past the shared sign-in limit, before looking at the password', async () => {
    users.setAdmin('root', true);
    const statuses: number[] = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await signIn('root', `wrong-${i}`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect((await signIn('root', 'root-pw')).status).toBe(429);
  });
});

describe('every request of a session', () => {
  beforeEach(() => users.setAdmin('root', true));

  it('knows the operator by the cookie alone; keeps only a hash of the cookie in the store', async () => {
    const { cookie } = await rootSession();
    const op = await auth.operator(request({ cookie: `other=1; ${cookie}` }));
    expect('status' in op).toBe(false);
    if (!('status' in op)) expect(op.key).not.toBe(sessionIdOf(cookie));
    expect(await store.get(sessionIdOf(cookie)!)).toBeUndefined();
    expect(((await auth.operator(request())) as ApiReply).status).toBe(401);
    expect(((await auth.operator(request({ cookie: 'gw_operator=forged' }))) as ApiReply).status).toBe(401);
  });

  it('needs the Origin and the CSRF token on actions', async () => {
    const { cookie, csrf } = await rootSession();
    const act = (headers: Record<string, string>) => auth.actor(request({ cookie, ...headers }));
    expect(((await act({ origin: ORIGIN })) as ApiReply).status).toBe(403);
    expect(((await act({ origin: ORIGIN, 'x-csrf-token': 'wrong' })) as ApiReply).status).toBe(403);
    expect(((await act({ 'x-csrf-token': csrf })) as ApiReply).status).toBe(403);
    expect(((await act({ origin: 'https://evil.example', 'x-csrf-token': csrf })) as ApiReply).status).toBe(403);
    expect('status' in (await act({ origin: ORIGIN, 'x-csrf-token': csrf }))).toBe(false);
  });

  it('refuses at once an operator whose flag was revoked (403), and ends a session whose password changed (401)', async () => {
    const first = await rootSession();
    users.setAdmin('root', false);
    users.setAdmin('alice', true); // the page stays on: another operator exists
    expect(((await auth.operator(request({ cookie: first.cookie }))) as ApiReply).status).toBe(403);
    users.setAdmin('root', true);
    expect(((await auth.operator(request({ cookie: first.cookie }))) as ApiReply).status).toBe(401); // deleted at the refusal
    const second = await rootSession();
    users.setPassword('root', 'new-pw');
    expect(((await auth.operator(request({ cookie: second.cookie }))) as ApiReply).status).toBe(401);
  });

  it('signs out: the session is gone and the cookie cleared', async () => {
    const { cookie, csrf } = await rootSession();
    const out = await auth.routes.post['/admin/api/signout'](request({ cookie, origin: ORIGIN, 'x-csrf-token': csrf }), json({}));
    expect(out.status).toBe(200);
    expect(out.headers!['set-cookie']).toMatch(/^gw_operator=; Path=\/admin; Max-Age=0;/);
    expect(((await auth.operator(request({ cookie }))) as ApiReply).status).toBe(401);
  });
});

describe('fromOwnOrigin', () => {
  const check = (origin: string, host = HOST, extra: Record<string, string> = {}, allowed: string[] = []) =>
    fromOwnOrigin(request({ origin, host, ...extra }), allowed);

  it('takes an Origin whose host name is the Host\'s, whatever the port a proxy left on Host', () => {
    expect(check(ORIGIN)).toBe(true);
    expect(check('http://gw.example', 'gw.example')).toBe(true);
    expect(check('http://gw.example:8080', 'gw.example')).toBe(true);
    expect(check('http://[::1]:9000', '[::1]:9000')).toBe(true);
  });

  it('refuses other hosts, no Origin, "null", a cross-site fetch, unless the Origin is allowed by name', () => {
    expect(check('https://gw.example.evil.com')).toBe(false);
    expect(check('')).toBe(false);
    expect(check('null')).toBe(false);
    expect(check(ORIGIN, HOST, { 'sec-fetch-site': 'cross-site' })).toBe(false);
    expect(check('https://console.example', HOST, {}, ['https://console.example'])).toBe(true);
  });
});
