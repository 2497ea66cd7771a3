/**
 * A large cluster's `*` feed (PRESENCE_LIST_MAX), end to end over two nodes and a real Redis:
 * past the limit `*` watchers get counts instead of changes and new welcomes list nobody;
 * a watcher of a list keeps every change of its users, with counts when asked; listing
 * resumes with a `presence_reset` ('listed') and the welcome lists again.
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

beforeAll(async () => {
  cluster = await startCluster(fx, 'large', { nodes: 2, env: { PRESENCE_GRACE_MS: '0', PRESENCE_LIST_MAX: '3' } });
  [a, b] = cluster.nodes;
});

afterAll(() => cluster?.stop());

it('counts instead of listing past the limit, keeps list watchers exact, and lists again below it', async () => {
  const all = await fx.connect(a, 'l-all');
  expect(all.frames[0]).toMatchObject({ type: 'welcome', onlineListed: true, online: ['l-all'] });
  const few = await fx.connect(a, 'l-few');
  const ack = await few.request({ type: 'watch', users: ['l-3'], count: true });
  // The count as of the node's last presence window (a count frame follows each change of it).
  expect(ack.result).toEqual({ watching: 1, online: [], onlineCount: expect.any(Number), onlineListed: true });

  const u2 = await fx.connect(b, 'l-2');
  await waitFor('listed change of l-2', () => all.presence('l-2').length === 1);
  const u3 = await fx.connect(b, 'l-3'); // 4 online: past 3
  const count = await all.next((f) => f.type === 'presence_count');
  expect(count).toEqual({ type: 'presence_count', onlineCount: 4, listed: false });
  expect(all.presence('l-3')).toEqual([]);
  await waitFor('l-few hears l-3 come online', () => few.presence('l-3').some((c) => c.status === 'online'));
  await waitFor('l-few gets the count', () => few.frames.some((f) => f.type === 'presence_count' && f.onlineCount === 4 && !f.listed));

  const late = await fx.connect(b, 'l-late'); // 5 online
  expect(late.frames[0]).toMatchObject({ type: 'welcome', onlineListed: false, online: [] });
  expect(late.frames[0].onlineCursor).toBeUndefined();
  // The welcome's count is the node's last count frame; the frames after it bring it to 5.
  const lastCount = (c: typeof late) => c.frames.filter((f) => f.type === 'welcome' || f.type === 'presence_count').at(-1)!.onlineCount;
  await waitFor('the late client counts 5', () => lastCount(late) === 5);
  const page = await late.request({ type: 'online' }); // ids on request
  expect(page.result.users.sort()).toEqual(['l-2', 'l-3', 'l-all', 'l-few', 'l-late']);
  await waitFor('a counts 5', () => all.frames.some((f) => f.type === 'presence_count' && f.onlineCount === 5));

  for (const c of [late, u3, u2]) c.close(); // 2 online: at most 3 * 0.9
  const reset = await all.next((f) => f.type === 'presence_reset', 5000);
  expect(reset.reason).toBe('listed');
  await waitFor('l-few hears l-3 go offline', () => few.presence('l-3').some((c) => c.status === 'offline'));
  await waitFor('a lists again', async () => (await fx.connect(b, 'l-again')).frames[0].onlineListed === true ? true : undefined, 5000);
  const again = await all.next((f) => f.type === 'presence' && f.changes.some((c: { userId: string }) => c.userId === 'l-again'));
  expect(again.changes.find((c: { userId: string }) => c.userId === 'l-again').status).toBe('online');
  expect(all.closed).toBeUndefined();
}, 30_000);
