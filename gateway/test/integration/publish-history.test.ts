/**
 * Backends publish without a socket (HTTP and the Redis inbox), and clients catch up on what
 * they missed, even when the node they were on died and they land on another one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';

const KEY = 'test-api-key-0123456789abcdef';
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let redis: RedisServer;
let env: Record<string, string>;
let b: GatewayProcess;

const node = (id: string) => fx.gateway({ ...env, NODE_ID: id });
function publish(gw: GatewayProcess, body: unknown, key = KEY, type = 'application/json') {
  return fetch(`${gw.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': type }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

beforeAll(async () => {
  cluster = await startCluster(fx, 'pub', {
    nodes: ['pub-b'],
    env: { API_KEYS: KEY, HISTORY_ACTIONS: 'news*=100/5m,tiny=2/1h,tours=3/1h', PRESENCE_GRACE_MS: '0' },
  });
  ({ redis, env, nodes: [b] } = cluster);
});

afterAll(() => cluster?.stop());

describe('POST /api/publish', () => {
  it('refuses a missing or wrong key (401), a bad body (400) and a wrong content type (415)', async () => {
    expect((await publish(b, { action: 'a', data: 1 }, '')).status).toBe(401);
    expect((await publish(b, { action: 'a', data: 1 }, 'wrong-key-wrong-key-wrong')).status).toBe(401);
    expect((await publish(b, '{nope')).status).toBe(400);
    expect((await publish(b, { action: 'bad name', data: 1 })).status).toBe(400);
    expect((await publish(b, { action: 'a' })).status).toBe(400);
    expect((await publish(b, { messages: [] })).status).toBe(400);
    expect((await publish(b, { action: 'a', data: 1 }, KEY, 'text/plain')).status).toBe(415);
  });

  it('delivers to members on every node, stamped as system, keeping batch order', async () => {
    const a = await node('pub-a');
    const onA = await fx.connect(a, 'u-a');
    const onB = await fx.connect(b, 'u-b');
    for (const c of [onA, onB]) await c.request({ type: 'join', action: 'alerts' });
    const res = await publish(a, { messages: Array.from({ length: 20 }, (_, i) => ({ action: 'alerts', data: i })) });
    expect(res.status).toBe(200);
    expect((await res.json()).published).toHaveLength(20);
    for (const c of [onA, onB]) {
      await waitFor('all 20', () => c.messages('alerts').length === 20);
      expect(c.messages('alerts').map((m) => m.data)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(c.messages('alerts')[0].from).toEqual({ system: true });
    }
  });

  it('takes backend messages from the Redis inbox stream, each published once', async () => {
    const c = await fx.connect(b, 'u-inbox');
    await c.request({ type: 'join', action: 'jobs' });
    const r = redis.client();
    await r.xadd(`${env.REDIS_PREFIX}publish:in`, '*', 'action', 'jobs', 'data', JSON.stringify({ done: 1 }));
    await r.xadd(`${env.REDIS_PREFIX}publish:in`, '*', 'action', 'jobs', 'data', 'not json');
    await r.xadd(`${env.REDIS_PREFIX}publish:in`, '*', 'action', 'jobs', 'data', JSON.stringify({ done: 2 }));
    await waitFor('two inbox messages', () => c.messages('jobs').length === 2, 8000);
    expect(c.messages('jobs').map((m) => m.data)).toEqual([{ done: 1 }, { done: 2 }]);
  });
});

describe('history and recovery', () => {
  it('recovers exactly the missed messages, in order, on another node after the first one was SIGKILLed', async () => {
    const victim = await node('pub-victim');
    const c1 = await fx.connect(victim, 'reader');
    await c1.request({ type: 'join', action: 'news' });
    for (let i = 1; i <= 5; i += 1) expect((await publish(b, { action: 'news', data: i })).status).toBe(200);
    await waitFor('1..5', () => c1.messages('news').length === 5);
    const last = c1.messages('news')[4].offset;
    expect(last).toMatch(/^\d+-\d+$/);
    await victim.kill('SIGKILL');
    for (let i = 6; i <= 10; i += 1) await publish(b, { action: 'news', data: i });
    const c2 = await fx.connect(b, 'reader');
    const ack = await c2.request({ type: 'join', action: 'news', since: last });
    expect(ack.result).toMatchObject({ recovered: true, delivered: 5 });
    await publish(b, { action: 'news', data: 11 });
    await waitFor('6..11', () => c2.messages('news').length === 6);
    expect(c2.messages('news').map((m) => m.data)).toEqual([6, 7, 8, 9, 10, 11]);
    const offsets = c2.messages('news').map((m) => m.offset);
    expect(new Set(offsets).size).toBe(6);
  });

  it('says recovered: false when the gap is older than the history, and delivers nothing old', async () => {
    const c = await fx.connect(b, 'gap-reader');
    await c.request({ type: 'join', action: 'tiny' });
    for (let i = 1; i <= 5; i += 1) await publish(b, { action: 'tiny', data: i });
    await waitFor('5', () => c.messages('tiny').length === 5);
    const first = c.messages('tiny')[0].offset;
    const late = await fx.connect(b, 'gap-reader');
    const ack = await late.request({ type: 'join', action: 'tiny', since: first });
    expect(ack.result).toMatchObject({ recovered: false });
    expect(late.messages('tiny')).toEqual([]);
  });

  it('delivers the last N messages as initial state on join with history', async () => {
    for (const seats of [10, 9, 8, 7]) await publish(b, { action: 'tours', data: { tour: 'alps', seats } });
    const c = await fx.connect(b, 'dashboard');
    const ack = await c.request({ type: 'join', action: 'tours', history: 1 });
    expect(ack.result).toMatchObject({ delivered: 1 });
    expect(c.messages('tours').map((m) => m.data.seats)).toEqual([7]);
  });
});
