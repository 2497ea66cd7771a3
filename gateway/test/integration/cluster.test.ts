/**
 * Two gateway processes on one real Redis behave as one service: presence, actions,
 * search and protocol errors, seen from real WebSocket clients on both nodes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture();
let cluster: Cluster;
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let prefix: string;
let ids: Record<string, string>;

/** A client of a directory user, by username. */
const connect = (gw: GatewayProcess, user: string) => fx.connect(gw, ids[user] ?? user);

beforeAll(async () => {
  cluster = await startCluster(fx, 'cluster', {
    nodes: 2,
    // Exact transitions are asserted here: no offline grace window (grace has its own test).
    env: { MAX_PAYLOAD_BYTES: '4096', PRESENCE_BATCH_MS: '10', PRESENCE_GRACE_MS: '0' },
    users: [
      { username: 'alice', displayName: 'Alice Liddell' }, { username: 'bob', displayName: 'Bob Builder' },
      { username: 'alina', displayName: 'Alina Z' }, { username: 'carol', displayName: 'Carol C' },
    ],
  });
  ({ redis, prefix, ids, nodes: [a, b] } = cluster);
});

// Each test starts with nobody online and no presence change in flight: a node batches changes
// for PRESENCE_BATCH_MS and cancels a user's offline followed by an online, so an offline from
// one test must be out before the next test connects the same user again. Fence: once the store
// is empty, a watcher on each node sees a later change; every earlier one went out with it.
let fences = 0;
afterEach(async () => {
  await fx.closeClients();
  await waitFor('nobody online', async () => (await redis.client().scard(`${prefix}online_users`)) === 0);
  const fence = `fence-${++fences}`; // a user never seen before, so nothing cancels its change
  const watchers = await Promise.all([a, b].map((gw) => fx.connect(gw, 'fence-watcher')));
  await fx.connect(a, fence);
  await waitFor('the fence seen on both nodes', () => watchers.every((w) => w.presence(fence).some((c) => c.status === 'online')));
  await fx.closeClients();
});

afterAll(() => cluster?.stop());

describe('presence across nodes', () => {
  it('announces the first connection anywhere and the last close anywhere, exactly once each', async () => {
    const watcher = await connect(b, 'carol');
    const tab1 = await connect(a, 'alice');
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === ids.alice && c.status === 'online'));
    expect(await redis.client().sismember(`${prefix}online_users`, ids.alice)).toBe(1);

    const tab2 = await connect(b, 'alice'); // second tab, other node
    tab1.close();
    // The user still has a tab on node b: no offline, counter back to 1.
    await waitFor('counter at 1', async () => (await redis.client().hget(`${prefix}presence:counts`, ids.alice)) === '1');
    expect(watcher.presence(ids.alice).filter((c) => c.status === 'offline')).toHaveLength(0);

    tab2.close();
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === ids.alice && c.status === 'offline'));
    expect(await redis.client().sismember(`${prefix}online_users`, ids.alice)).toBe(0);
    expect(watcher.presence(ids.alice).map((c) => c.status)).toEqual(['online', 'offline']);
    expect(watcher.presence(ids.alice)[0]).toMatchObject({ username: 'alice', ts: expect.any(Number) });
    watcher.close();
  });

  it('puts users already online in the welcome snapshot', async () => {
    const bob = await connect(a, 'bob');
    const carol = await connect(b, 'carol');
    expect(carol.frames[0].online).toContain(ids.bob);
    expect(carol.frames[0].onlineCount).toBeGreaterThanOrEqual(2);
    bob.close();
    carol.close();
  });

  it('narrows the presence feed with watch and widens it back with "*"', async () => {
    const w = await connect(a, 'carol');
    const ack = await w.request({ type: 'watch', users: [ids.bob] });
    expect(ack).toMatchObject({ type: 'ack', result: { watching: 1, online: [] } });
    const alice = await connect(b, 'alice');
    const bob = await connect(b, 'bob');
    await w.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === ids.bob));
    const mark = w.frames.length;
    bob.close();
    await w.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === ids.bob && c.status === 'offline'), 5000, mark);
    expect(w.presence(ids.alice)).toHaveLength(0);
    await w.request({ type: 'watch', users: '*' });
    alice.close();
    await w.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === ids.alice && c.status === 'offline'));
    w.close();
  });
});

describe('actions', () => {
  it('delivers a publish to members on every node, stamped with the sender, never back to the sender by default', async () => {
    const alice = await connect(a, 'alice');
    const bob = await connect(b, 'bob');
    const carol = await connect(a, 'carol');
    for (const c of [alice, bob, carol]) expect(await c.request({ type: 'join', action: 'chat' })).toMatchObject({ type: 'ack' });
    const ack = await alice.request({ type: 'publish', action: 'chat', data: { text: 'hi', from: { userId: 'mallory' }, sender: 'mallory' } });
    expect(ack.type).toBe('ack');
    for (const c of [bob, carol]) {
      const m = await c.next((f) => f.type === 'message' && f.action === 'chat');
      expect(m.from).toMatchObject({ userId: ids.alice, username: 'alice', displayName: 'Alice Liddell' });
      expect(m.data).toEqual({ text: 'hi', from: { userId: 'mallory' }, sender: 'mallory' });
      expect(m.ts).toEqual(expect.any(Number));
    }
    await alice.request({ type: 'publish', action: 'chat', data: 'echoed', echo: true });
    await alice.next((f) => f.type === 'message' && f.data === 'echoed');
    expect(alice.messages('chat').map((m) => m.data)).toEqual(['echoed']);
    await waitFor('bob and carol got both', () => bob.messages('chat').length === 2 && carol.messages('chat').length === 2);
    // Nothing more arrives: a fence message published after both must be the third and last.
    await alice.request({ type: 'publish', action: 'chat', data: 'fence' });
    await waitFor('fence', () => bob.messages('chat').length === 3 && carol.messages('chat').length === 3);
    expect(bob.messages('chat').map((m) => m.data)).toEqual([expect.anything(), 'echoed', 'fence']);
    expect(alice.messages('chat').map((m) => m.data)).toEqual(['echoed']);
  });

  it('refuses publishing to an action the connection has not joined', async () => {
    const c = await connect(a, 'carol');
    expect(await c.request({ type: 'publish', action: 'secret', data: 1 })).toMatchObject({ type: 'error', code: 'not_member' });
  });

  it('registers members in Redis (per user, counting connections) and removes them on leave and on disconnect', async () => {
    const c1 = await connect(a, 'alice');
    const c2 = await connect(b, 'bob');
    await c1.request({ type: 'join', action: 'room' });
    await c2.request({ type: 'join', action: 'room' });
    const key = `${prefix}members:room`;
    const [id1, id2] = [c1.frames[0].user.id, c2.frames[0].user.id];
    const sorted = (o: Record<string, string>) => Object.entries(o).sort().join(';');
    await waitFor('both registered', async () => sorted(await redis.client().hgetall(key)) === sorted({ [id1]: '1', [id2]: '1' }));
    expect(await redis.client().zscore(`${prefix}actions`, 'room')).toBe('2');
    await c1.request({ type: 'leave', action: 'room' });
    await waitFor('leave unregistered', async () => (await redis.client().hexists(key, id1)) === 0);
    c2.close();
    await waitFor('disconnect unregistered', async () => (await redis.client().exists(key)) === 0);
    expect(await redis.client().zscore(`${prefix}actions`, 'room')).toBeNull();
  });
});

describe('search', () => {
  it('answers over HTTP with online flags and refuses a missing token', async () => {
    const online = await connect(b, 'alina');
    expect((await fetch(`${a.http}/api/users/search?q=ali`)).status).toBe(401);
    const res = await fetch(`${a.http}/api/users/search?q=ali&limit=10`, { headers: { authorization: `Bearer ${await fx.mint(ids.bob)}` } });
    expect(res.status).toBe(200);
    const { users } = await res.json();
    expect(users.map((u: any) => u.username).sort()).toEqual(['alice', 'alina']);
    expect(users.find((u: any) => u.username === 'alina').online).toBe(true);
    expect((await fetch(`${a.http}/api/users/search?limit=9999`, { headers: { authorization: `Bearer ${await fx.mint(ids.bob)}` } })).status).toBe(400);
    online.close();
  });

  it('answers the WebSocket search command', async () => {
    const c = await connect(a, 'bob');
    const ack = await c.request({ type: 'search', q: 'BUILD', limit: 5 });
    expect(ack.result.users).toEqual([{ id: ids.bob, username: 'bob', displayName: 'Bob Builder', online: true }]);
  });
});

describe('protocol errors', () => {
  it('answers bad JSON, unknown types and missing fields with an error and keeps the socket open', async () => {
    const c = await connect(a, 'carol');
    c.send('{not json');
    await c.next((f) => f.type === 'error' && f.code === 'bad_json');
    expect(await c.request({ type: 'dance' })).toMatchObject({ type: 'error', code: 'unknown_type' });
    expect(await c.request({ type: 'join' })).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await c.request({ type: 'publish', action: 'x' })).toMatchObject({ type: 'error', code: 'bad_request' });
    expect(await c.request({ type: 'join', action: 'bad name with spaces' })).toMatchObject({ type: 'error', code: 'bad_request' });
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await c.next((f) => f.type === 'error' && f.code === 'bad_request' && /binary/.test(f.message));
    c.send({ type: 'ping', id: 'after-errors' });
    await c.next((f) => f.type === 'pong' && f.id === 'after-errors');
  });

  it('answers an application ping with a pong carrying the id', async () => {
    const c = await connect(b, 'carol');
    c.send({ type: 'ping', id: 'p1' });
    const pong = await c.next((f) => f.type === 'pong');
    expect(pong).toMatchObject({ id: 'p1', ts: expect.any(Number) });
  });

  it('closes the connection on a frame over the size limit, and only that one', async () => {
    const big = await connect(a, 'carol');
    const other = await connect(a, 'bob');
    big.send({ type: 'publish', action: 'chat', data: 'x'.repeat(8000) });
    const closed = await big.waitClosed();
    expect([1006, 1009]).toContain(closed.code);
    other.send({ type: 'ping', id: 'still' });
    await other.next((f) => f.type === 'pong' && f.id === 'still');
  });
});
