/**
 * Backends see and steer the cluster, black-box on gateways sharing one Redis: the server API
 * (disconnect, unsubscribe, channels, presence, online, info), the event stream and webhooks.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';
import { startReceiver, type Receiver } from '../harness/webhook.js';
import type { ClusterEvent } from '../../../shared/events.js';
import { eventOf } from '../../src/events/payloads.js';
import { replay } from '../harness/replay.js';

const KEY = 'server-api-key-0123456789';
const SECRET = 'webhook-secret-for-the-server-api-test';
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let receiver: Receiver;
let env: Record<string, string>;
let a: GatewayProcess;
let b: GatewayProcess;

function api(gw: GatewayProcess, method: 'GET' | 'POST', path: string, body?: unknown, opts: { key?: string; type?: string } = {}) {
  return fetch(`${gw.http}${path}`, {
    method,
    headers: { authorization: `Bearer ${opts.key ?? KEY}`, 'content-type': opts.type ?? 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}
async function json(res: Promise<Response>): Promise<any> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json();
}

beforeAll(async () => {
  receiver = await startReceiver(SECRET);
  receiver.failNext(2); // the first deliveries fail: retried, nothing lost
  cluster = await startCluster(fx, 'api', {
    nodes: 2,
    env: {
      API_KEYS: KEY, PRESENCE_GRACE_MS: '0', PRESENCE_LEASE_MS: '1500', PRESENCE_BATCH_MS: '10', WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: SECRET,
      MAX_CONNECTIONS_PER_USER: '0', CONNECT_RATE_PER_S: '10000', CONNECT_BURST: '10000',
      CHANNELS_FILE: fileURLToPath(new URL('../../../deploy/channels.example.json', import.meta.url)), // room presence in `default`
    },
  });
  ({ redis, env, nodes: [a, b] } = cluster);
});

afterAll(async () => {
  await cluster?.stop();
  await receiver?.close();
});

describe('POST /api/disconnect', () => {
  it('closes the user on every node with 4003, refuses the old token, and lets a new one in', async () => {
    const token = await fx.mint('banned');
    const [onA, onB] = [await fx.connectWith(a, token), await fx.connectWith(b, token)];
    const bystander = await fx.connect(b, 'bystander');
    const result = await json(api(a, 'POST', '/api/disconnect', { userId: 'banned' }));
    expect(result).toMatchObject({ affected: 2, missing: [] });
    expect([...result.nodes].sort()).toEqual(['api-a', 'api-b']);
    await waitFor('both closed', () => onA.closed && onB.closed);
    expect([onA.closed!.code, onB.closed!.code]).toEqual([4003, 4003]);
    await expect(TestClient.connect(b.url, { token })).rejects.toMatchObject({ status: 401 });
    await expect(TestClient.connect(a.url, { token })).rejects.toMatchObject({ status: 401 });
    expect(bystander.closed).toBeUndefined();
    // A token issued after the revocation second is accepted.
    await waitFor('the next second', () => Math.floor(Date.now() / 1000) > result.revokedAt, 2000);
    fx.track(await TestClient.connect(a.url, { token: await fx.mint('banned') }));
  });

  it('closes one connection by id with a chosen code, leaving the user\'s tokens valid', async () => {
    const token = await fx.mint('one-tab');
    const [first, second] = [await fx.connectWith(a, token), await fx.connectWith(b, token)];
    const welcome = second.frames.find((f) => f.type === 'welcome')!;
    const result = await json(api(b, 'POST', '/api/disconnect', { userId: 'one-tab', connectionId: welcome.connectionId, code: 4100, reason: 'moved' }));
    expect(result.affected).toBe(1);
    await waitFor('closed', () => second.closed);
    expect(second.closed).toEqual({ code: 4100, reason: 'moved' });
    expect(first.closed).toBeUndefined();
    fx.track(await TestClient.connect(b.url, { token }));
  });

  it('closes 1,000 connections of one user across both nodes in one call', async () => {
    const token = await fx.mint('many-tabs');
    const clients: TestClient[] = [];
    for (let i = 0; i < 1000; i += 50) {
      clients.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => TestClient.connect((i + j) % 2 ? a.url : b.url, { token })))));
    }
    const started = Date.now();
    const result = await json(api(a, 'POST', '/api/disconnect', { userId: 'many-tabs' }));
    await waitFor('all closed', () => clients.every((c) => c.closed), 10_000);
    console.log(`disconnect of 1,000 connections on 2 nodes: answered and all closed in ${Date.now() - started} ms`);
    expect(result.affected).toBe(1000);
    expect(clients.every((c) => c.closed!.code === 4003)).toBe(true);
  }, 60_000);
});

describe('a signed-in user without an API key', () => {
  it('gets 401 from every server route with their own access token, and nothing is written', async () => {
    const victimToken = await fx.mint('victim');
    const victim = await fx.connectWith(a, victimToken);
    expect((await victim.request({ type: 'join', action: 'guarded' })).type).toBe('ack');
    const hostile = await fx.mint('hostile');
    const r = redis.client();
    const P = env.REDIS_PREFIX;
    const eventsBefore = await r.xlen(`${P}events`);
    const calls: Array<['GET' | 'POST', string, unknown?]> = [
      ['POST', '/api/disconnect', { userId: 'victim' }],
      ['POST', '/api/unsubscribe', { userId: 'victim', action: 'guarded' }],
      ['GET', '/api/presence?action=guarded'], ['GET', '/api/channels'], ['GET', '/api/online'], ['GET', '/api/info'],
    ];
    for (const [method, path, body] of calls) {
      const res = await api(a, method, path, body, { key: hostile });
      expect(res.status, path).toBe(401);
      expect(await res.json(), path).toEqual({ error: 'unauthorized', message: 'missing or unknown API key' });
    }
    // Nothing happened: no revocation, no close, no removal, no event.
    expect(await r.zscore(`${P}revoked`, 'victim')).toBeNull();
    expect(victim.closed).toBeUndefined();
    expect(await r.hexists(`${P}members:guarded`, 'victim')).toBe(1);
    expect(victim.frames.some((f) => f.type === 'left')).toBe(false);
    expect(await r.xlen(`${P}events`)).toBe(eventsBefore);
    fx.track(await TestClient.connect(b.url, { token: victimToken })); // the victim's token still works
  });
});

describe('POST /api/unsubscribe', () => {
  it('removes the user from the action on every node: the client is told, the room updates, messages stop', async () => {
    const [u1, u2] = [await fx.connect(a, 'kicked'), await fx.connect(b, 'kicked')];
    const watcher = await fx.connect(b, 'room-watcher');
    for (const c of [u1, u2, watcher]) expect((await c.request({ type: 'join', action: 'team' })).type).toBe('ack');
    const result = await json(api(b, 'POST', '/api/unsubscribe', { userId: 'kicked', action: 'team' }));
    expect(result).toMatchObject({ affected: 2, missing: [] });
    for (const c of [u1, u2]) await c.next((f) => f.type === 'left' && f.action === 'team' && f.reason === 'unsubscribed');
    await watcher.next((f) => f.type === 'room' && f.changes?.some((c: any) => c.userId === 'kicked' && c.status === 'left'));
    const members = await json(api(a, 'GET', '/api/presence?action=team'));
    expect(members.users.map((u: any) => u.id)).toEqual(['room-watcher']);
    const mark = u1.frames.length;
    await watcher.request({ type: 'publish', action: 'team', data: 'after' });
    const other = await fx.connect(a, 'team-peer');
    await other.request({ type: 'join', action: 'team' });
    await watcher.request({ type: 'publish', action: 'team', data: 'later' });
    await other.next((f) => f.type === 'message' && f.data === 'later');
    expect(u1.frames.slice(mark).some((f) => f.action === 'team' && f.type !== 'left')).toBe(false);
  });
});

describe('GET /api/channels, /api/presence, /api/online, /api/info', () => {
  it('answer from the whole cluster, paged', async () => {
    const c1 = await fx.connect(a, 'lister-1');
    const c2 = await fx.connect(b, 'lister-2');
    await c1.request({ type: 'join', action: 'list:one' });
    await c2.request({ type: 'join', action: 'list:one' });
    await c2.request({ type: 'join', action: 'list:two' });
    const channels = await json(api(b, 'GET', '/api/channels?prefix=list:'));
    expect(channels.channels.sort((x: any, y: any) => x.action.localeCompare(y.action))).toEqual([
      { action: 'list:one', members: 2 }, { action: 'list:two', members: 1 },
    ]);
    const page1 = await json(api(a, 'GET', '/api/presence?action=list:one&limit=1'));
    expect(page1.count).toBe(2);
    const online = await json(api(a, 'GET', '/api/online?limit=1000'));
    expect(online.users).toEqual(expect.arrayContaining(['lister-1', 'lister-2']));
    expect(online.count).toBe(online.users.length);
    const info = await json(api(a, 'GET', '/api/info'));
    const ids = info.nodes.map((n: any) => n.id);
    expect(ids).toEqual(expect.arrayContaining(['api-a', 'api-b']));
    for (const n of info.nodes.filter((x: any) => ['api-a', 'api-b'].includes(x.id))) {
      expect(n.alive).toBe(true);
      expect(n.connections).toBeGreaterThan(0);
    }
  });

  it('answer unknown names with empty results and bad input with 4xx, never 500', async () => {
    expect(await json(api(a, 'GET', '/api/presence?action=nobody-here'))).toMatchObject({ users: [], count: 0 });
    expect(await json(api(a, 'GET', '/api/channels?prefix=zzz-none'))).toEqual({ channels: [] });
    expect(await json(api(a, 'POST', '/api/disconnect', { userId: 'no-such-user' }))).toMatchObject({ affected: 0 });
    expect(await json(api(a, 'POST', '/api/unsubscribe', { userId: 'no-such-user', action: 'team' }))).toMatchObject({ affected: 0 });
    const status = async (r: Promise<Response>) => (await r).status;
    expect(await status(api(a, 'GET', '/api/info', undefined, { key: 'wrong-key-wrong-key-wrong' }))).toBe(401);
    expect(await status(api(a, 'GET', '/api/presence?action=bad name'))).toBe(400);
    expect(await status(api(a, 'GET', '/api/presence'))).toBe(400);
    expect(await status(api(a, 'GET', '/api/online?cursor=not-a-cursor'))).toBe(400);
    expect(await status(api(a, 'GET', '/api/channels?limit=100000'))).toBe(400);
    expect(await status(api(a, 'POST', '/api/disconnect', '{nope'))).toBe(400);
    expect(await status(api(a, 'POST', '/api/disconnect', { userId: 'x', code: 1000 }))).toBe(400);
    expect(await status(api(a, 'POST', '/api/disconnect', { userId: 'x', reason: 'r'.repeat(124) }))).toBe(400);
    expect(await status(api(a, 'POST', '/api/disconnect', { userId: 'x', extra: 1 }))).toBe(400);
    expect(await status(api(a, 'POST', '/api/unsubscribe', { userId: 'x' }))).toBe(400);
    expect(await status(api(a, 'POST', '/api/unsubscribe', { userId: 'x', action: 'team' }, { type: 'text/plain' }))).toBe(415);
    expect(await status(api(a, 'POST', '/api/disconnect', { userId: 'x'.repeat(70_000) }))).toBe(413);
  });
});

describe('the event stream and webhooks', () => {
  it('replay to online_users and memberships after a burst and a SIGKILL; the receiver got every event, signed', async () => {
    const victim = await fx.gateway({ ...env, NODE_ID: 'api-victim' });
    const nodes = [a, b, victim];
    const clients: TestClient[] = [];
    for (let i = 0; i < 60; i++) {
      const c = await fx.connect(nodes[i % 3], `burst-${i % 25}`);
      await c.request({ type: 'join', action: `burst:${i % 4}` });
      if (i % 5 === 0) await c.request({ type: 'leave', action: `burst:${i % 4}` });
      clients.push(c);
    }
    for (const c of clients.filter((_, i) => i % 7 === 0)) c.close();
    await victim.kill('SIGKILL');
    const r = redis.client();
    const P = env.REDIS_PREFIX;
    await waitFor('the victim reaped', async () => (await r.zscore(`${P}presence:nodes`, 'api-victim')) === null, 15_000);

    const raw = (await r.xrange(`${P}events`, '-', '+')) as Array<[string, string[]]>;
    const events = raw.map(([id, f]) => eventOf(id, f)).filter((e): e is ClusterEvent => e !== undefined);
    expect(events).toHaveLength(raw.length);
    const { online, members } = replay(events);
    expect(online).toEqual((await r.smembers(`${P}online_users`)).sort());
    for (const action of new Set([...Object.keys(members), ...(await r.zrange(`${P}actions`, 0, -1))])) {
      expect(members[action] ?? [], action).toEqual((await r.hkeys(`${P}members:${action}`)).sort());
    }
    const lost = events.filter((e) => e.reason === 'node_lost');
    expect(lost.length).toBeGreaterThan(0);
    expect(lost.every((e) => e.node === 'api-victim')).toBe(true);

    await waitFor('the receiver got every event', () => {
      const got = receiver.ids();
      return events.every((e) => got.has(e.id));
    }, 15_000);
    expect(receiver.badSignatures).toBe(0);
    const delivered = receiver.items.filter((i) => i.type !== 'gap');
    const firstSeen = [...new Map(delivered.map((i) => [i.id, i])).keys()];
    expect(firstSeen.slice(0, events.length)).toEqual(events.map((e) => e.id)); // stream order
    expect(receiver.items.some((i) => i.type === 'gap')).toBe(false);
  }, 60_000);
});

describe('examples/events.mjs', () => {
  it('replays the stream into a local copy of who is online', async () => {
    const r = redis.client();
    const entries = await r.xlen(`${env.REDIS_PREFIX}events`);
    const { stdout } = await promisify(execFile)(process.execPath, ['examples/events.mjs'], {
      env: { PATH: process.env.PATH, REDIS_URL: redis.url, REDIS_PREFIX: env.REDIS_PREFIX, GROUP: 'example-test', COUNT: String(entries) },
      timeout: 20_000,
    });
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(entries);
    const online = Number(/(\d+) online$/.exec(lines.filter((l) => / online$/.test(l)).at(-1)!)![1]);
    expect(online).toBe(await r.scard(`${env.REDIS_PREFIX}online_users`));
  });
});
