/**
 * What the public listener shows (issue 12, items 9 and 11): the page carries its security
 * headers and no source maps; /metrics answers only this host, or a caller with
 * METRICS_TOKEN; display names cannot hide bidi or invisible characters.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef';
const fx = gatewayFixture({ env: { TRUSTED_PROXIES: '127.0.0.1' } });
let open: GatewayProcess;
let guarded: GatewayProcess;
let aliceId: string;

beforeAll(async () => {
  const db = tempDbPath();
  const users = new SqliteUserDirectory(db);
  aliceId = users.add({ username: 'alice', displayName: 'Alice Liddell' }).id;
  users.close();
  open = await fx.gateway({ DB_PATH: db });
  guarded = await fx.gateway({ DB_PATH: tempDbPath(), METRICS_TOKEN });
});

afterAll(() => fx.teardown());

const get = (gw: GatewayProcess, path: string, headers: Record<string, string> = {}) => fetch(`${gw.http}${path}`, { headers });

describe('the page', () => {
  it('carries a Content-Security-Policy, refuses framing and sends no referrer', async () => {
    for (const path of ['/', '/app.js', '/tours.html', '/styles.css']) {
      const res = await get(open, path);
      expect(res.status, path).toBe(200);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('does not serve source maps', async () => {
    expect((await get(open, '/app.js.map')).status).toBe(404);
    expect((await get(open, '/tours.js.map')).status).toBe(404);
    expect(await (await get(open, '/app.js')).text()).not.toContain('sourceMappingURL');
  });
});

describe('/metrics', () => {
  it('answers callers on this host only, by default', async () => {
    expect((await get(open, '/metrics')).status).toBe(200);
    // Through a trusted proxy, for a client elsewhere: as if there were no such route.
    expect((await get(open, '/metrics', { 'x-forwarded-for': '203.0.113.5' })).status).toBe(404);
  });

  it('with METRICS_TOKEN, answers whoever presents it, and nobody else', async () => {
    const remote = { 'x-forwarded-for': '203.0.113.6' };
    expect((await get(guarded, '/metrics', { ...remote, authorization: `Bearer ${METRICS_TOKEN}` })).status).toBe(200);
    expect((await get(guarded, '/metrics', { ...remote, authorization: 'Bearer wrong-token-0123456789' })).status).toBe(404);
    expect((await get(guarded, '/metrics')).status).toBe(404);
  });
});

describe('display names', () => {
  it('refuse bidi, zero-width and control characters', async () => {
    const token = await fx.mint(aliceId);
    const patch = (displayName: string) => fetch(`${open.http}/api/me`, {
      method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ displayName }),
    });
    for (const bad of ['Alice Liddell\u202e', 'Ali\u200bce', 'Bob\u2066', 'tab\there', 'line\u2028break']) {
      expect((await patch(bad)).status, JSON.stringify(bad)).toBe(400);
    }
    const ok = await patch('  Alice L.  ');
    expect(ok.status).toBe(200);
    expect((await ok.json() as { user: { displayName: string } }).user.displayName).toBe('Alice L.');
  });
});
