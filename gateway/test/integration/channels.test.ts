/**
 * Channels real apps can trust (issue 10), black-box on two gateways sharing one Redis with a
 * CHANNELS_FILE: each subscribe mode admits and refuses the right users, backend-only
 * namespaces refuse clients, user-limited actions admit only their users, refusals write
 * nothing, and room presence is right across nodes, tabs, the grace window and a SIGKILL.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient, type Frame } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import { TEST_SECRET, type GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const KEY = 'channels-test-api-key-0123456789';
const GRACE_MS = 600;
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let authz: Server;
let env: Record<string, string>;
let a: GatewayProcess;
let b: GatewayProcess;
const secret = new TextEncoder().encode(TEST_SECRET);
const now = () => Math.floor(Date.now() / 1000);

/** The app's authorization endpoint: allows users named ok*, refuses no*, fails err*, never answers hang*. */
function startAuthz(): Promise<number> {
  authz = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const { userId } = JSON.parse(body) as { userId: string };
      if (userId.startsWith('hang')) return;
      res.writeHead(userId.startsWith('ok') ? 204 : userId.startsWith('no') ? 403 : 500).end();
    });
  });
  return new Promise((resolve) => authz.listen(0, '127.0.0.1', () => resolve((authz.address() as { port: number }).port)));
}

beforeAll(async () => {
  const dir = mkdtempSync(joinPath(tmpdir(), 'gw-channels-'));
  const file = joinPath(dir, 'channels.json');
  writeFileSync(file, JSON.stringify({
    namespaces: {
      default: { subscribe: 'public', publish: 'members', presence: true },
      news: { subscribe: 'public', publish: 'backend', history: '10/5m' },
      team: { subscribe: 'claim', presence: true },
      private: { subscribe: 'token' },
      billing: { subscribe: 'proxy', proxy: { url: `http://127.0.0.1:${await startAuthz()}/authorize`, timeoutMs: 300 } },
      quiet: { subscribe: 'public' },
    },
  }));
  cluster = await startCluster(fx, 'channels', {
    nodes: ['ch-a', 'ch-b'],
    env: { CHANNELS_FILE: file, API_KEYS: KEY, PRESENCE_GRACE_MS: String(GRACE_MS), PRESENCE_BATCH_MS: '10', PRESENCE_LEASE_MS: '1500' },
  });
  ({ redis, env, nodes: [a, b] } = cluster);
});

afterAll(async () => {
  await cluster?.stop();
  authz?.close();
  authz?.closeAllConnections();
});

async function sign(claims: Record<string, unknown>): Promise<string> {
  return fx.remember(await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secret));
}

async function join(c: TestClient, action: string, extra: Record<string, unknown> = {}): Promise<Frame> {
  return c.request({ type: 'join', action, ...extra });
}

const forbidden = { type: 'error', code: 'forbidden' };
const joined = { type: 'ack', result: { joined: true } };

describe('subscribe modes', () => {
  it('public: any signed-in user', async () => {
    expect(await join(await fx.connect(a, 'pub-1'), 'lobby-public')).toMatchObject(joined);
  });

  it('claim: only actions the access token\'s channels claim names or matches', async () => {
    const member = await fx.connectWith(a, await sign({ sub: 'claimer', iat: now(), exp: now() + 600, channels: ['team:7', 'team:8*'] }));
    expect(await join(member, 'team:7')).toMatchObject(joined);
    expect(await join(member, 'team:81')).toMatchObject(joined);
    const refused = await join(member, 'team:9');
    expect(refused).toMatchObject(forbidden);
    expect(refused.message).toContain('channels');
    expect(await join(await fx.connect(a, 'no-claim'), 'team:7')).toMatchObject(forbidden);
  });

  it('token: a subscription token for this user and this action, signed with the gateway\'s key', async () => {
    const grant = (sub: string, channel: string, exp = now() + 60) => sign({ sub, channel, iat: now(), exp });
    const c = await fx.connect(b, 'granted');
    expect(await join(c, 'private:x')).toMatchObject(forbidden);
    expect(await join(c, 'private:x', { token: await grant('granted', 'private:y') })).toMatchObject(forbidden);
    expect(await join(c, 'private:x', { token: await grant('someone-else', 'private:x') })).toMatchObject(forbidden);
    expect(await join(c, 'private:x', { token: await grant('granted', 'private:x', now() - 120) })).toMatchObject(forbidden);
    expect(await join(c, 'private:x', { token: await grant('granted', 'private:x') })).toMatchObject(joined);
    // A subscription token is not an access token: it opens nothing else.
    const me = await fetch(`${b.http}/api/me`, { headers: { authorization: `Bearer ${await grant('granted', 'private:x')}` } });
    expect(me.status).toBe(401);
  });

  it('proxy: the app\'s endpoint decides; its failures and silence are unavailable, never an allow', async () => {
    expect(await join(await fx.connect(a, 'ok-user'), 'billing:acme')).toMatchObject(joined);
    expect(await join(await fx.connect(a, 'no-user'), 'billing:acme')).toMatchObject(forbidden);
    expect(await join(await fx.connect(a, 'err-user'), 'billing:acme')).toMatchObject({ type: 'error', code: 'unavailable' });
    const slow = await fx.connect(a, 'hang-user');
    const started = Date.now();
    expect(await join(slow, 'billing:acme')).toMatchObject({ type: 'error', code: 'unavailable' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // The connection stays usable after every refusal.
    slow.send({ type: 'ping', id: 'still-here' });
    await slow.next((f) => f.type === 'pong' && f.id === 'still-here');
  });
});

describe('publishing', () => {
  it('backend-only namespaces refuse clients and take the publish API, with history', async () => {
    const reader = await fx.connect(b, 'news-reader');
    expect(await join(reader, 'news:tech')).toMatchObject(joined);
    expect(await reader.request({ type: 'publish', action: 'news:tech', data: 'fake' })).toMatchObject(forbidden);
    const res = await fetch(`${a.http}/api/publish`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'news:tech', data: { headline: 'real' } }),
    });
    expect(res.status).toBe(200);
    const msg = await reader.next((f) => f.type === 'message' && f.action === 'news:tech');
    expect(msg).toMatchObject({ from: { system: true }, data: { headline: 'real' }, offset: expect.stringMatching(/^\d+-\d+$/) });
    expect(reader.messages('news:tech').map((m) => m.data)).toEqual([{ headline: 'real' }]);
  });

  it('user-limited actions admit and hear only their users, on any node', async () => {
    const [u1, u2, u3] = [await fx.connect(a, 'dm-u1'), await fx.connect(b, 'dm-u2'), await fx.connect(b, 'dm-u3')];
    const dm = 'dm#dm-u1,dm-u2';
    expect(await join(u1, dm)).toMatchObject(joined);
    expect(await join(u2, dm)).toMatchObject(joined);
    const refused = await join(u3, dm);
    expect(refused).toMatchObject(forbidden);
    expect(refused.message).toContain('#');
    expect(await u3.request({ type: 'publish', action: dm, data: 'let me in' })).toMatchObject({ type: 'error', code: 'not_member' });
    await u1.request({ type: 'publish', action: dm, data: 'psst' });
    await u2.next((f) => f.type === 'message' && f.data === 'psst');
    expect(u3.messages()).toEqual([]);
  });

  it('refusals write nothing to Redis: no membership, no history, no index entry', async () => {
    const stranger = await fx.connect(a, 'stranger');
    const refused = ['team:99', 'private:z', 'dm#x,y', 'billing:none'];
    for (const action of refused) expect((await join(stranger, action)).type).toBe('error');
    await fetch(`${a.http}/readyz`); // a later round trip; the gateway writes nothing for a refusal anyway
    const r = redis.client();
    const p = env.REDIS_PREFIX;
    for (const action of refused) {
      expect(await r.exists(`${p}members:${action}`, `${p}history:${action}`, `${p}history-meta:${action}`), action).toBe(0);
      expect(await r.zscore(`${p}actions`, action), action).toBeNull();
    }
    const index = await r.smembers(`${p}presence:node:ch-a:members`);
    expect(index.filter((e) => e.includes('stranger'))).toEqual([]);
  });
});

/** `userId`'s joined/left changes in `action` as `c` received them. */
function roomChanges(c: TestClient, action: string, userId?: string): string[] {
  return c.frames.filter((f) => f.type === 'room' && f.action === action)
    .flatMap((f) => f.changes).filter((ch: Frame) => !userId || ch.userId === userId).map((ch: Frame) => `${ch.userId}:${ch.status}`);
}

describe('room presence', () => {
  it('is right across nodes and tabs, applies the grace window, and pages from a seq', async () => {
    const alice = await fx.connect(a, 'r-alice');
    expect(await join(alice, 'lounge')).toMatchObject(joined);
    const bob1 = await fx.connect(b, 'r-bob');
    expect(await join(bob1, 'lounge')).toMatchObject(joined);
    await waitFor('alice hears bob join', () => roomChanges(alice, 'lounge', 'r-bob').length === 1);
    const page = (await alice.request({ type: 'members', action: 'lounge' })).result;
    expect(page.count).toBe(2);
    expect(page.users.map((u: Frame) => u.id).sort()).toEqual(['r-alice', 'r-bob']);
    expect(page.users.find((u: Frame) => u.id === 'r-bob')).toMatchObject({ username: 'r-bob', displayName: 'r-bob' });
    // A second tab of bob (other node): no event; closing one of two tabs: no event.
    const bob2 = await fx.connect(a, 'r-bob');
    expect(await join(bob2, 'lounge')).toMatchObject(joined);
    bob1.close(1000);
    await bob1.waitClosed();
    // The last tab drops without a goodbye: bob leaves after the grace window, not before.
    const fence = await fx.connect(b, 'r-fence');
    await join(fence, 'lounge');
    await waitFor('alice hears the fence', () => roomChanges(alice, 'lounge', 'r-fence').length === 1);
    const dropped = Date.now();
    bob2.ws.terminate();
    await waitFor('bob left', () => roomChanges(alice, 'lounge', 'r-bob').length === 2, 10_000);
    expect(Date.now() - dropped).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(roomChanges(alice, 'lounge', 'r-bob')).toEqual(['r-bob:joined', 'r-bob:left']);
    // Every event after the page carries a higher seq.
    const after = alice.frames.filter((f) => f.type === 'room' && f.changes.some((c: Frame) => c.userId === 'r-bob' && c.status === 'left'));
    expect(after.every((f) => f.seq > page.seq)).toBe(true);
  });

  it('answers members to members only, and only where the namespace has presence', async () => {
    const c = await fx.connect(a, 'r-outsider');
    expect(await c.request({ type: 'members', action: 'lounge' })).toMatchObject({ type: 'error', code: 'not_member' });
    await join(c, 'quiet:room');
    expect(await c.request({ type: 'members', action: 'quiet:room' })).toMatchObject(forbidden);
  });

  it('lets the members of a SIGKILLed node leave within the lease, exactly once', async () => {
    const doomed = await fx.gateway({ ...env, NODE_ID: 'ch-doomed' });
    const watcher = await fx.connect(a, 'k-watcher');
    await join(watcher, 'vigil');
    const dave = await fx.connect(doomed, 'k-dave');
    await join(dave, 'vigil');
    await waitFor('dave joined', () => roomChanges(watcher, 'vigil', 'k-dave').length === 1);
    const killed = Date.now();
    await doomed.kill('SIGKILL');
    await waitFor('dave left', () => roomChanges(watcher, 'vigil', 'k-dave').length === 2, 15_000);
    console.log(`SIGKILL to room "left" on another node: ${Date.now() - killed} ms (lease 1.5 s)`);
    const fence = await fx.connect(b, 'k-fence');
    await join(fence, 'vigil');
    await waitFor('the fence', () => roomChanges(watcher, 'vigil', 'k-fence').length === 1);
    expect(roomChanges(watcher, 'vigil', 'k-dave')).toEqual(['k-dave:joined', 'k-dave:left']);
    const members = (await watcher.request({ type: 'members', action: 'vigil' })).result;
    expect(members.users.map((u: Frame) => u.id).sort()).toEqual(['k-fence', 'k-watcher']);
  }, 30_000);
});
