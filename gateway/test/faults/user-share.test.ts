/**
 * What one signed-in user's connections may cost a node and everyone else (issue 25, findings
 * 4, 5, 8, 9), on a real gateway and Redis:
 * - heavy list frames (1,000 ids) from six sockets: the node does a bounded amount of that work
 *   per second, the rest is refused `rate_limited`, and a bystander keeps getting pongs;
 * - a burst of 100 profile changes: 5 are taken, and a `*` watcher gets at most a handful of frames;
 * - a refresh with a narrower `channels` claim narrows joins, and leaves what it no longer covers;
 *   `/api/refresh` carries the claim into the new token;
 * - a join/leave loop writes a bounded number of event-stream entries;
 * - a `joins` frame is judged join by join: 100 joins buy no more than 100 `join` frames would.
 */
import { SignJWT } from 'jose';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestClient } from '../harness/client.js';
import { MEMBERSHIP_PER_S } from '../../src/session/quotas.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture } from '../harness/fixture.js';
import { TEST_SECRET, type GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
let cluster: Cluster;
let gw: GatewayProcess;
const now = () => Math.floor(Date.now() / 1000);
const secret = new TextEncoder().encode(TEST_SECRET);

beforeAll(async () => {
  const dir = mkdtempSync(joinPath(tmpdir(), 'gw-share-'));
  const file = joinPath(dir, 'channels.json');
  writeFileSync(file, JSON.stringify({ namespaces: { team: { subscribe: 'claim' }, loop: { subscribe: 'public', presence: true } } }));
  cluster = await startCluster(fx, 'share', {
    // Strikes never close the heavy sockets here: what is measured is the work the node takes from them.
    nodes: 1, env: { CHANNELS_FILE: file, PRESENCE_BATCH_MS: '20', RATE_STRIKES_BEFORE_CLOSE: '100000' },
    users: [{ username: 'vain', displayName: 'Vain' }, { username: 'narrow', displayName: 'Narrow' }],
  });
  [gw] = cluster.nodes;
});

afterAll(() => cluster?.stop());

const ids = (n: number) => Array.from({ length: n }, (_, i) => `user-${String(i).padStart(44, '0')}`);

describe('one user\'s share of a node', () => {
  it('bounds the work of 1,000-id frames from six sockets, and a bystander keeps its pongs', async () => {
    const sockets = await Promise.all(Array.from({ length: 6 }, () => fx.connect(gw, 'heavy-lister')));
    const bystander = await fx.connect(gw, 'bystander');
    const users = JSON.stringify({ type: 'users', ids: ids(1000), id: 'h' });
    const watch = JSON.stringify({ type: 'watch', users: ids(1000), id: 'h' });
    const started = Date.now();
    // 4 s of 25 heavy frames a second per socket (150 a second in all), alternating users and watch.
    for (let tick = 0; tick < 100; tick += 1) {
      for (const s of sockets) s.send(tick % 2 === 0 ? users : watch);
      bystander.send({ type: 'ping', id: `p${tick}` });
      await bystander.next((f) => f.type === 'pong' && f.id === `p${tick}`, 5000, bystander.frames.length - 1);
      const wait = started + tick * 40 - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    // A refused frame this large is answered without its id (the id of a large frame is not parsed).
    const answers = () => sockets.flatMap((s) => s.frames.filter((f) => f.id === 'h' || f.type === 'error'));
    await waitFor('every heavy frame answered', () => answers().length === 600, 20_000, 100);
    const done = answers().filter((f) => f.type === 'ack').length;
    const limited = answers().filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
    expect(done + limited).toBe(600);
    // The user's share (2 x 100 units a second, a 1,000-id frame costs 27) lets about a tenth through.
    expect(done).toBeLessThan(600 / 4);
    expect(limited).toBeGreaterThan(600 / 2);
  });

  it('takes 5 of 100 profile changes in a burst, and a watcher sees at most a handful of profile frames', async () => {
    const watcher = await fx.connect(gw, 'profile-watcher');
    const token = await fx.mint(cluster.ids.vain);
    const statuses = await Promise.all(Array.from({ length: 100 }, (_, i) => fetch(`${gw.http}/api/me`, {
      method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ displayName: `Vain ${i}` }),
    }).then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(95);
    await watcher.next((f) => f.type === 'profile' && f.user.id === cluster.ids.vain);
    // A fence: a presence change after the burst; every profile frame went out before it.
    await fx.connect(gw, 'profile-fence');
    await watcher.next((f) => f.type === 'presence' && f.changes.some((c: { userId: string }) => c.userId === 'profile-fence'));
    const frames = watcher.frames.filter((f) => f.type === 'profile');
    expect(frames.length).toBeGreaterThanOrEqual(1);
    expect(frames.length).toBeLessThanOrEqual(5);
  });

  it('narrows joins when a refresh brings a narrower channels claim, and leaves what it no longer covers', async () => {
    const sign = async (channels: string[], exp: number) => fx.remember(await new SignJWT({ channels })
      .setProtectedHeader({ alg: 'HS256' }).setSubject(cluster.ids.narrow).setIssuedAt().setExpirationTime(exp).sign(secret));
    const c = await fx.connectWith(gw, await sign(['team:*'], now() + 300));
    const first = await c.request({ type: 'join', action: 'team:1' });
    expect(first, JSON.stringify(first)).toMatchObject({ type: 'ack' });
    expect(await c.request({ type: 'join', action: 'team:2' })).toMatchObject({ type: 'ack' });
    const narrower = await sign(['team:1'], now() + 600);
    const refreshed = await c.request({ type: 'refresh', token: narrower });
    expect(refreshed, JSON.stringify(refreshed)).toMatchObject({ type: 'ack' });
    await c.next((f) => f.type === 'left' && f.action === 'team:2');
    expect(await c.request({ type: 'join', action: 'team:3' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await c.request({ type: 'join', action: 'team:2' })).toMatchObject({ type: 'error', code: 'forbidden' });
    expect(await c.request({ type: 'join', action: 'team:1' })).toMatchObject({ type: 'ack' });
    // /api/refresh signs the new token with the same claim, so access survives the next reconnect.
    const res = await fetch(`${gw.http}/api/refresh`, { method: 'POST', headers: { authorization: `Bearer ${narrower}` } });
    expect(res.status).toBe(200);
    const { accessToken } = (await res.json()) as { accessToken: string };
    const again = await fx.connectWith(gw, accessToken);
    expect(await again.request({ type: 'join', action: 'team:1' })).toMatchObject({ type: 'ack' });
    expect(await again.request({ type: 'join', action: 'team:2' })).toMatchObject({ type: 'error', code: 'forbidden' });
  });

  it('bounds the event-stream entries a join/leave loop of one user writes', async () => {
    const redis = cluster.redis.client();
    const key = `${cluster.prefix}events`;
    const sockets: TestClient[] = await Promise.all([1, 2, 3].map(() => fx.connect(gw, 'looper')));
    await waitFor('the looper online in the stream', async () => (await redis.xlen(key)) > 0);
    const before = await redis.xlen(key);
    const until = Date.now() + 5000;
    let refused = 0;
    await Promise.all(sockets.map(async (s, i) => {
      for (let n = 0; Date.now() < until && n < 2000; n += 1) {
        const action = `loop:${i}`;
        const j = await s.request({ type: 'join', action });
        const l = await s.request({ type: 'leave', action });
        refused += [j, l].filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
      }
    }));
    await waitFor('the last writes in', async () => (await redis.xlen(key)) >= before);
    const written = (await redis.xlen(key)) - before;
    expect(refused).toBeGreaterThan(0);
    expect(written).toBeLessThanOrEqual(160);
  });

  it('judges a joins frame join by join: over 100 entries refused whole, past the user\'s join rate each one rate_limited', async () => {
    const entries = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ action: `loop:${tag}${i}` }));
    const results = (f: Record<string, any>) => f.result.results as Array<{ joined: boolean; error?: { code: string } }>;
    const first = await fx.connect(gw, 'batcher');
    const started = Date.now();
    expect(await first.request({ type: 'joins', joins: entries(101, 'x') })).toMatchObject({ type: 'error', code: 'bad_request' });
    // The refused frame took nothing from the user's join budget (a burst of MAX_ACTIONS_PER_CONNECTION, 100).
    const all = await first.request({ type: 'joins', joins: entries(100, 'a') }, 15_000);
    expect(results(all).filter((r) => r.joined)).toHaveLength(100);
    // A second socket of the same user shares that budget: a second frame of 100 gets what refilled since.
    const second = await fx.connect(gw, 'batcher');
    const more = await second.request({ type: 'joins', joins: entries(100, 'b') }, 15_000);
    const refilled = Math.ceil(((Date.now() - started) / 1000) * MEMBERSHIP_PER_S) + 1;
    const joined = results(more).filter((r) => r.joined).length;
    expect(joined).toBeLessThanOrEqual(refilled);
    expect(results(more).filter((r) => r.error?.code === 'rate_limited')).toHaveLength(100 - joined);
  });
});
