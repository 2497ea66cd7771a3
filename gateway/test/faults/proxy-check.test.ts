/**
 * The `proxy` subscribe rule under a hostile user (issue 25, findings 1, 2, 7), on a real gateway
 * with an authorization endpoint under the test's control:
 * - one user flooding fresh joins at a slow endpoint is limited to their own share (rate_limited
 *   for them), while another user's joins on the same node are all answered by the app;
 * - a 3xx is `unavailable`, never an allow, and its target never hears from the gateway;
 * - an answer remembered for `cacheS` is forgotten when the backend unsubscribes the user;
 * - refusals are remembered briefly; questions are signed when CHANNELS_PROXY_SECRET is set.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verify } from '../../src/events/signature.js';
import type { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const KEY = 'proxy-check-api-key-0123456789ab';
const PROXY_SECRET = 'proxy-signing-secret-0123456789abcdef';
const SLOW_MS = 1000;
const fx = gatewayFixture({ env: FAULTS_ENV });
let cluster: Cluster;
let gw: GatewayProcess;
let app: Server;
let elsewhere: Server;
/** What the app's endpoint was asked, in order. */
const asked: Array<{ userId: string; action: string; signed: boolean }> = [];
let elsewhereHits = 0;
/** How the app answers, by user id prefix. */
const answer = (userId: string, action: string): number | 'slow' | 'redirect' => {
  if (userId.startsWith('slow')) return 'slow';
  if (userId.startsWith('redirect')) return 'redirect';
  if (userId.startsWith('flip')) return flipAllowed.has(action) ? 200 : 403;
  return userId.startsWith('no') ? 403 : 200;
};
const flipAllowed = new Set<string>();

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => resolve(body));
  });
}

beforeAll(async () => {
  elsewhere = createServer((_req, res) => {
    elsewhereHits += 1;
    res.writeHead(200).end('ok');
  });
  const elsewherePort = await listen(elsewhere);
  app = createServer(async (req, res) => {
    const body = await readBody(req);
    const { userId, action } = JSON.parse(body) as { userId: string; action: string };
    asked.push({ userId, action, signed: verify(PROXY_SECRET, body, req.headers['x-gateway-signature'] as string | undefined) });
    const how = answer(userId, action);
    if (how === 'slow') return void setTimeout(() => res.writeHead(200).end(), SLOW_MS);
    if (how === 'redirect') return void res.writeHead(302, { location: `http://127.0.0.1:${elsewherePort}/yes` }).end();
    res.writeHead(how).end();
  });
  const url = `http://127.0.0.1:${await listen(app)}/authorize`;
  const dir = mkdtempSync(joinPath(tmpdir(), 'gw-proxy-'));
  const file = joinPath(dir, 'channels.json');
  writeFileSync(file, JSON.stringify({
    namespaces: {
      billing: { subscribe: 'proxy', proxy: { url, timeoutMs: 2000 } },
      cached: { subscribe: 'proxy', proxy: { url, timeoutMs: 2000, cacheS: 300 } },
    },
  }));
  cluster = await startCluster(fx, 'proxy', { nodes: 1, env: { CHANNELS_FILE: file, API_KEYS: KEY, CHANNELS_PROXY_SECRET: PROXY_SECRET } });
  [gw] = cluster.nodes;
});

afterAll(async () => {
  await cluster?.stop();
  for (const s of [app, elsewhere]) {
    s?.close();
    s?.closeAllConnections();
  }
});

const join = (c: TestClient, action: string) => c.request({ type: 'join', action }, 10_000);

describe('the proxy check under a hostile user', () => {
  it('keeps a flood of slow joins by one user from blocking another user\'s joins', async () => {
    const sockets = await Promise.all([1, 2, 3].map(() => fx.connect(gw, 'slow-flooder')));
    asked.length = 0;
    // Three sockets, 40 fresh joins each, as fast as the socket takes them.
    const flood = sockets.flatMap((s, i) => Array.from({ length: 40 }, (_, n) => join(s, `billing:m${i}-${n}`)));
    await waitFor('the flood reached the app', () => asked.length >= 1);
    const bystander = await fx.connect(gw, 'ok-bystander');
    const theirs = await Promise.all(Array.from({ length: 10 }, (_, n) => join(bystander, `billing:b${n}`)));
    expect(theirs.map((f) => f.type)).toEqual(Array(10).fill('ack'));
    const results = await Promise.all(flood);
    const codes = results.map((f) => (f.type === 'ack' ? 'ack' : f.code));
    // The flooder: a few questions at a time, the rest refused for them alone, never `unavailable`.
    expect(codes.filter((c) => c === 'ack').length).toBeGreaterThan(0);
    expect(codes.filter((c) => c === 'ack').length).toBeLessThanOrEqual(25);
    expect(codes.filter((c) => c !== 'ack').every((c) => c === 'rate_limited')).toBe(true);
    const flooderQuestions = asked.filter((q) => q.userId === 'slow-flooder').length;
    console.log(`flood: ${codes.length} joins, ${codes.filter((c) => c === 'ack').length} acked, ${flooderQuestions} asked of the app; bystander: ${theirs.length} of ${theirs.length} acked`);
    expect(flooderQuestions).toBeLessThanOrEqual(25);
    expect(asked.every((q) => q.signed)).toBe(true);
  });

  it('treats a redirect as unavailable, and never follows it', async () => {
    const c = await fx.connect(gw, 'redirect-user');
    const refused = await join(c, 'billing:acme');
    expect(refused).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(refused.message).toContain('302');
    expect(elsewhereHits).toBe(0);
  });

  it('remembers a refusal briefly: a repeated refused join does not ask the app again', async () => {
    const c = await fx.connect(gw, 'no-repeater');
    asked.length = 0;
    for (let i = 0; i < 5; i += 1) expect(await join(c, 'billing:vault')).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(asked.filter((q) => q.userId === 'no-repeater')).toHaveLength(1);
  });

  it('asks the app again after the backend unsubscribed the user, even within cacheS', async () => {
    flipAllowed.add('cached:room');
    const c = await fx.connect(gw, 'flip-user');
    expect(await join(c, 'cached:room')).toMatchObject({ type: 'ack' });
    // The app changes its mind and the backend removes the user.
    flipAllowed.delete('cached:room');
    const res = await fetch(`${gw.http}/api/unsubscribe`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'flip-user', action: 'cached:room' }),
    });
    expect(res.status).toBe(200);
    await c.next((f) => f.type === 'left' && f.action === 'cached:room');
    asked.length = 0;
    expect(await join(c, 'cached:room')).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(asked.filter((q) => q.userId === 'flip-user')).toHaveLength(1);
  });
});
