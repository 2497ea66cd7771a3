/**
 * Profiles: a display name and a picture, validated, stored, served with caching headers,
 * pushed live to everyone who sees the user, and returned in the welcome after a reconnect.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture();
let cluster: Cluster;
let a: GatewayProcess;
let b: GatewayProcess;
let userId: string;
/** A second account, for the reconnect test: it sets its own profile, whatever ran before. */
let rosaId: string;
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(64, 7)]);

beforeAll(async () => {
  cluster = await startCluster(fx, 'prof', {
    nodes: 2,
    env: { AVATAR_MAX_BYTES: '2048', PRESENCE_GRACE_MS: '0' },
    users: [{ username: 'paula', displayName: 'Paula' }, { username: 'rosa', displayName: 'Rosa' }],
  });
  [a, b] = cluster.nodes;
  ({ paula: userId, rosa: rosaId } = cluster.ids);
});

afterAll(() => cluster?.stop());

const auth = async (extra: Record<string, string> = {}, id = userId) => ({ authorization: `Bearer ${await fx.mint(id)}`, ...extra });

it('updates the display name, pushes it live to a watcher on another node, and stamps it on later messages', async () => {
  const watcher = await fx.connect(b, 'watcher');
  const paula = await fx.connect(a, userId);
  const res = await fetch(`${a.http}/api/me`, { method: 'PATCH', headers: await auth({ 'content-type': 'application/json' }), body: JSON.stringify({ displayName: 'Paula P.' }) });
  expect(res.status).toBe(200);
  const pushed = await watcher.next((f) => f.type === 'profile');
  expect(pushed.user).toMatchObject({ id: userId, username: 'paula', displayName: 'Paula P.' });
  for (const c of [watcher, paula]) await c.request({ type: 'join', action: 'p' });
  await paula.request({ type: 'publish', action: 'p', data: 'hi' });
  expect((await watcher.next((f) => f.type === 'message')).from.displayName).toBe('Paula P.');
  expect((await fetch(`${a.http}/api/me`, { method: 'PATCH', headers: await auth(), body: '{"displayName":""}' })).status).toBe(400);
  watcher.close();
  paula.close();
});

it('accepts a picture of an allowed type and size, refuses others, serves it with caching headers', async () => {
  const put = async (body: Buffer, type: string) => (await fetch(`${a.http}/api/me/avatar`, { method: "PUT", headers: await auth({ "content-type": type }), body: new Uint8Array(body) })).status;
  expect(await put(PNG, 'text/plain')).toBe(415);
  expect(await put(Buffer.from('not a png at all'), 'image/png')).toBe(400);
  expect(await put(Buffer.concat([PNG, Buffer.alloc(4096)]), 'image/png')).toBe(413);
  expect((await fetch(`${a.http}/api/me/avatar`, { method: "PUT", headers: { "content-type": "image/png" }, body: new Uint8Array(PNG) })).status).toBe(401);
  const watcher = await fx.connect(b, 'watcher2');
  expect(await put(PNG, 'image/png')).toBe(200);
  const pushed = await watcher.next((f) => f.type === 'profile');
  expect(pushed.user.avatarUrl).toMatch(new RegExp(`^/api/users/${userId}/avatar\\?v=1$`));
  const got = await fetch(`${b.http}${pushed.user.avatarUrl}`);
  expect(got.status).toBe(200);
  expect(got.headers.get('content-type')).toBe('image/png');
  expect(got.headers.get('cache-control')).toContain('immutable');
  expect(Buffer.from(await got.arrayBuffer())).toEqual(PNG);
  const again = await fetch(`${b.http}${pushed.user.avatarUrl}`, { headers: { 'if-none-match': got.headers.get('etag')! } });
  expect(again.status).toBe(304);
  expect((await fetch(`${b.http}/api/users/nobody/avatar`)).status).toBe(404);
  watcher.close();
});

it('gives a reconnecting client its profile back in the welcome', async () => {
  const first = await fx.connect(a, rosaId);
  const json = await auth({ 'content-type': 'application/json' }, rosaId);
  expect((await fetch(`${a.http}/api/me`, { method: 'PATCH', headers: json, body: JSON.stringify({ displayName: 'Rosa R.' }) })).status).toBe(200);
  const png = await auth({ 'content-type': 'image/png' }, rosaId);
  expect((await fetch(`${a.http}/api/me/avatar`, { method: 'PUT', headers: png, body: new Uint8Array(PNG) })).status).toBe(200);
  first.close();
  await first.waitClosed();
  const c = await fx.connect(b, rosaId);
  expect(c.frames[0].user).toMatchObject({ id: rosaId, displayName: 'Rosa R.', avatarUrl: expect.stringContaining('/avatar?v=') });
  const found = await c.request({ type: 'users', ids: [rosaId, 'unknown'] });
  expect(found.result.users).toEqual([expect.objectContaining({ id: rosaId, displayName: 'Rosa R.' })]);
  c.close();
  await waitFor('closed', () => c.closed);
});
