/**
 * What one hostile signed-in user can do, probed the way a security review found it (issue
 * 12), on two gateways sharing a real Redis: grow a node's heap with frames that look like
 * history, leave membership keys behind, flood watchers with presence, push a publish past
 * the size limit by re-encoding, crash a store with a forged cursor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAULTS_ENV, gatewayFixture, MB, metric } from '../harness/fixture.js';
import { TestClient } from '../harness/client.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const KEY = 'hostile-test-api-key-0123456789';
const fx = gatewayFixture({ env: FAULTS_ENV });
let cluster: Cluster;
let redis: RedisServer;
let prefix: string;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'hostile', { nodes: 2, env: { API_KEYS: KEY, HISTORY_ACTIONS: 'kept*=2/5m' } });
  ({ redis, prefix, nodes: [a, b] } = cluster);
});

afterAll(() => cluster?.stop());

async function publishApi(gw: GatewayProcess, messages: Array<{ action: string; data: unknown }>): Promise<Response> {
  return fetch(`${gw.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ messages }),
  });
}

describe('a hostile signed-in user', () => {
  it('cannot grow a node\'s heap with frames whose data ends like a history offset', async () => {
    const actions = ['flood-1', 'flood-2', 'flood-3', 'flood-4', 'flood-5', 'flood-6', 'kept-1'];
    const receiver = await fx.connect(b, 'receiver');
    for (const action of actions) expect((await receiver.request({ type: 'join', action })).type).toBe('ack');
    const before = await metric(b, 'nodejs_heap_size_used_bytes');
    // 60 KB of data ending in what the old relay took for an offset; the old code kept 256 such
    // frames per joined action on the receiving node (about 90 MB here) until the last member left.
    const data = { pad: 'x'.repeat(60_000), offset: '1-1' };
    const rounds = 5;
    for (let r = 0; r < rounds * 60; r += 1) {
      const sent = await Promise.all(actions.map((action) => publishApi(a, [{ action, data }])));
      expect(sent.map((res) => res.status)).toEqual(actions.map(() => 200));
    }
    const expected = actions.length * rounds * 60;
    await waitFor('every frame delivered', () => receiver.messages().length >= expected, 60_000, 50);
    receiver.frames.length = 0; // the test client's own copies are not the node's business
    const after = await waitFor('the heap of the receiving node back near where it was', async () => {
      const used = await metric(b, 'nodejs_heap_size_used_bytes');
      return used - before < 25 * MB ? used : undefined;
    }, 20_000, 250);
    console.log(`heap of the receiving node: ${(before / MB).toFixed(1)} MB before, ${(after / MB).toFixed(1)} MB after ${expected} frames of 60 KB`);
  }, 120_000);

  it('leaves no membership behind when its sockets close while their joins are in flight', async () => {
    const clients: TestClient[] = [];
    for (let i = 0; i < 10; i += 1) clients.push(await fx.connect(a, `orphan-${i}`));
    for (const [i, c] of clients.entries()) {
      for (let j = 0; j < 50; j += 1) c.send({ type: 'join', action: `room-${i}-${j}` });
      c.close(1000);
    }
    await Promise.all(clients.map((c) => c.waitClosed()));
    const r = redis.client();
    await waitFor('the users offline', async () => (await r.smismember(`${prefix}online_users`, ...clients.map((_, i) => `orphan-${i}`))).every((f) => f === 0), 10_000);
    // Every write issued for these sockets has been applied once a later command is answered.
    await r.ping();
    const left = await r.keys(`${prefix}action:room-*`);
    const index = await r.smembers(`${prefix}presence:node:hostile-a:members`);
    expect(left).toEqual([]);
    expect(index.filter((e) => e.startsWith('room-'))).toEqual([]);
  });

  it('cannot flood watchers with presence by reconnecting in a loop', async () => {
    const watcher = await fx.connect(b, 'flap-watcher');
    const token = await fx.mint('flapper');
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      try {
        const c = await TestClient.connect(a.url, { token });
        c.close(1000);
        await c.waitClosed();
        statuses.push(101);
      } catch (err) {
        statuses.push((err as { status?: number }).status ?? 0);
      }
    }
    const fence = await fx.connect(a, 'flap-fence');
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: { userId: string }) => c.userId === 'flap-fence'), 5000);
    const changes = watcher.presence('flapper');
    console.log(`30 connect/close cycles: ${statuses.filter((s) => s === 101).length} admitted, ${statuses.filter((s) => s === 429).length} refused 429; the watcher saw ${changes.length} changes`);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0); // CONNECT_BURST (20) per user and node
    // Each cycle (online, then offline) falls within one presence batch and cancels out.
    expect(changes.length).toBeLessThan(10);
    if (changes.length > 0) expect(changes.at(-1)?.status).toBe('offline');
    fence.close();
  });

  it('cannot send a publish that re-encoding makes larger than MAX_PAYLOAD_BYTES, and nothing is delivered', async () => {
    const [sender, member] = [await fx.connect(a, 'bloater'), await fx.connect(b, 'bloat-member')];
    for (const c of [sender, member]) await c.request({ type: 'join', action: 'bloat' });
    // `1e20` is 4 bytes on the wire and 21 once JSON.stringify wrote it out.
    const text = `{"type":"publish","action":"bloat","id":"big","data":[${Array(12_000).fill('1e20').join(',')}]}`;
    expect(text.length).toBeLessThan(64 * 1024);
    sender.send(text);
    const answer = await sender.next((f) => f.id === 'big');
    expect(answer).toMatchObject({ type: 'error', code: 'too_large' });
    await sender.request({ type: 'publish', action: 'bloat', data: 'fence' });
    await member.next((f) => f.type === 'message' && f.data === 'fence');
    expect(member.messages('bloat').map((m) => m.data)).toEqual(['fence']);
  });

  it('gets bad_request for a forged online cursor, and the node logs no failure', async () => {
    const c = await fx.connect(a, 'cursor-forger');
    for (const cursor of ['0:9999999999', '99999999999999999999999', '18446744073709551616']) {
      const answer = await c.request({ type: 'online', cursor });
      expect(answer, cursor).toMatchObject({ type: 'error', code: 'bad_request' });
    }
    expect(a.logs.filter((l) => l.includes('command failed'))).toEqual([]);
  });
});
