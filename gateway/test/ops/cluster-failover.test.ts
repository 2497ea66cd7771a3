/**
 * Redis Cluster failover with replicas (issue 14, docs/SCALING.md "Failover with replicas"):
 * two gateways on a six-node cluster (three primaries, one replica each). Users on both nodes,
 * joined to actions spread over every primary, messages crossing nodes. A primary is SIGKILLed,
 * first one holding presence keys (partitioned, they sit on every primary), then a second one
 * that also holds a node's presence subscription; each time
 * its replica must take over, messages on every action cross nodes again, presence is exact
 * again (the store and every watcher's view) and both nodes, 503 meanwhile, are ready again,
 * each within a deadline. The times from the kill are printed on one line per failover.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestClient } from '../harness/client.js';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { waitFor } from '../harness/wait.js';

const PREFIX = '{gw}:';
const KEY = 'failover-api-key-0123456789';
/** Every wait after a kill: failure detection (1 s node timeout) and election take a few seconds. */
const RECOVERY_MS = 15_000;
const fx = gatewayFixture();
let cluster: RedisCluster;
let a: GatewayProcess;
let b: GatewayProcess;
/** The open tabs of each user, on either gateway. */
const tabs = new Map<string, TestClient[]>();
/** Two actions on each primary (by their sharded channel's slot), keyed by the primary's port at the start. */
let actionsByPrimary: Map<number, string[]>;
let actions: string[];
/** A user on each node who watches presence ('*', the default) and is a member of every action. */
let watchers: { a: TestClient; b: TestClient };

const channelOf = (action: string) => `gw:action:{${action}}`;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: 1 });
  const env = {
    REDIS_CLUSTER_NODES: cluster.nodes, REDIS_PREFIX: PREFIX, DB_PATH: tempDbPath(), PRESENCE_GRACE_MS: '0', API_KEYS: KEY, CONNECT_BURST: '100',
  };
  [a, b] = await Promise.all([fx.gateway({ ...env, NODE_ID: 'fo-a' }), fx.gateway({ ...env, NODE_ID: 'fo-b' })]);
  actionsByPrimary = new Map(cluster.primaries().map((p) => [p, [] as string[]]));
  for (let i = 0; [...actionsByPrimary.values()].some((list) => list.length < 2); i += 1) {
    const list = actionsByPrimary.get(cluster.ownerOf(channelOf(`fo-room-${i}`)))!;
    if (list.length < 2) list.push(`fo-room-${i}`);
  }
  actions = [...actionsByPrimary.values()].flat();
  watchers = { a: await open(a, 'fo-ann'), b: await open(b, 'fo-bob') };
  for (const [gw, user] of [[a, 'fo-ada'], [a, 'fo-both'], [b, 'fo-ben'], [b, 'fo-both']] as const) await open(gw, user);
  await presenceRight(expectedOnline(), 10_000);
}, 60_000);

afterAll(async () => {
  await fx.teardown();
  await cluster?.stop();
});

/** A tab of `user` on `gw`, joined to every action. */
async function open(gw: GatewayProcess, user: string): Promise<TestClient> {
  const c = await fx.connect(gw, user);
  for (const action of actions) expect((await c.request({ type: 'join', action })).type).toBe('ack');
  tabs.set(user, [...(tabs.get(user) ?? []), c]);
  return c;
}

async function closeTabs(user: string): Promise<void> {
  const list = tabs.get(user) ?? [];
  tabs.delete(user);
  for (const c of list) c.close();
  await Promise.all(list.map((c) => c.waitClosed()));
}

const expectedOnline = () => [...tabs.keys()].sort();

/** `/api/online` of one gateway, sorted; undefined while it cannot answer. */
async function onlineApi(gw: GatewayProcess): Promise<string[] | undefined> {
  const res = await fetch(`${gw.http}/api/online?limit=100`, { headers: { authorization: `Bearer ${KEY}` } });
  return res.status === 200 ? ((await res.json()).users as string[]).sort() : undefined;
}

/** Both gateways' `/api/online` and both watchers' views equal `expected`. */
async function presenceIs(expected: string[]): Promise<boolean> {
  const [fromA, fromB] = await Promise.all([onlineApi(a), onlineApi(b)]);
  const seen = { apiA: fromA, apiB: fromB, viewA: watchers.a.onlineView(), viewB: watchers.b.onlineView() };
  const wrong = Object.entries(seen).filter(([, x]) => JSON.stringify(x) !== JSON.stringify(expected));
  if (wrong.length > 0) throw new Error(wrong.map(([k, x]) => `${k}=${x?.join(',') ?? 'unavailable'}`).join(' '));
  return true;
}

async function presenceRight(expected: string[], timeoutMs = RECOVERY_MS): Promise<void> {
  await waitFor(`presence = ${expected.join(',')}`, () => presenceIs(expected), timeoutMs, 50);
}

/** One message of `from` on `action` reaches `to` (on the other node) within `ms`. */
async function crosses(action: string, from: TestClient, to: TestClient, ms = 1000): Promise<boolean> {
  const data = `probe-${Math.random().toString(36).slice(2)}`;
  const ack = await from.request({ type: 'publish', action, data }, ms);
  if (ack.type !== 'ack') return false;
  return to.next((f) => f.type === 'message' && f.action === action && f.data === data, ms).then(() => true, () => false);
}

async function everyActionCrosses(timeoutMs = RECOVERY_MS): Promise<void> {
  for (const action of actions) {
    await waitFor(`${action} crosses a→b`, () => crosses(action, watchers.a, watchers.b), timeoutMs, 50);
    await waitFor(`${action} crosses b→a`, () => crosses(action, watchers.b, watchers.a), timeoutMs, 50);
  }
}

/** The primaries whose keyspace holds an online set: found by what is stored, whatever hash tags presence uses. */
const presenceHolders = () => cluster.primaries().filter((p) => cluster.cli(p, '--scan', '--pattern', '*online_users*').trim() !== '');

/** The primaries holding a presence subscription of `nodeId`, with the client ids (partitioned presence: one per primary). */
function presenceSubscriptions(nodeId: string): Array<{ port: number; id: string }> {
  return cluster.primaries().flatMap((port) => cluster.cli(port, 'client', 'list').split('\n')
    .filter((l) => l.includes(`:${nodeId}:presence-sub`))
    .map((l) => ({ port, id: /\bid=(\d+)/.exec(l)![1] })));
}

/**
 * Makes sure `nodeId` hears presence through the primary on `port`. Sharded (partitioned
 * presence) it does through every primary; a classic subscription sits on one node, and
 * ioredis picks a random one each time its connection is killed.
 */
async function steerPresenceSubscription(nodeId: string, port: number): Promise<void> {
  await waitFor(`${nodeId}'s presence subscription on ${port}`, () => {
    const subs = presenceSubscriptions(nodeId);
    if (subs.some((s) => s.port === port)) return true;
    for (const s of subs) cluster.cli(s.port, 'client', 'kill', 'id', s.id);
    return false;
  }, 10_000, 50);
}

const readyz = async (gw: GatewayProcess) => (await fetch(`${gw.http}/readyz`)).status;

/**
 * Both watchers publish on `action` every 50 ms (tagged `tag`), without waiting for answers:
 * `resumed()` is true once each has received one of the other's since the start.
 */
function ticker(action: string, tag: string): { resumed: () => boolean; stop: () => void } {
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    watchers.a.send({ type: 'publish', action, data: `${tag}-a-${n}` });
    watchers.b.send({ type: 'publish', action, data: `${tag}-b-${n}` });
  }, 50);
  const got = (c: TestClient, from: string) => c.messages(action).some((m) => String(m.data).startsWith(`${tag}-${from}-`));
  return { resumed: () => got(watchers.b, 'a') && got(watchers.a, 'b'), stop: () => clearInterval(timer) };
}

interface Failover { promotedMs: number; messagesMs: number; presenceMs: number; readyMs: number }

/** Polls both gateways' /readyz every 50 ms: `readyMs()` is when both answered 200 again after the last 503 (-1: never 503). */
function readinessWatch(since: () => number): { readyMs: () => number; stop: () => void } {
  let last503 = -1;
  let readyAt = -1;
  const timer = setInterval(() => {
    void Promise.all([readyz(a), readyz(b)]).then(([x, y]) => {
      const at = since();
      if (x !== 200 || y !== 200) [last503, readyAt] = [at, -1];
      else if (last503 >= 0 && readyAt < 0) readyAt = at;
    }, () => {});
  }, 50);
  return { readyMs: () => (last503 < 0 ? -1 : readyAt), stop: () => clearInterval(timer) };
}

/**
 * SIGKILLs the primary on `victim`, runs `meanwhile` right after, and measures from the kill
 * until its replica is a primary, until messages cross nodes both ways on `action` (on the
 * victim) again, and until presence equals the tabs open then.
 */
async function failover(victim: number, action: string, meanwhile: () => Promise<void>): Promise<Failover> {
  const [replica] = cluster.replicasOf(victim);
  expect(replica, `a replica of ${victim}`).toBeDefined();
  await cluster.stopNode(victim);
  const killedAt = Date.now();
  const since = () => Date.now() - killedAt;
  const tick = ticker(action, `kill-${victim}`);
  const readiness = readinessWatch(since);
  try {
    await meanwhile();
    const promoted = waitFor('replica promoted', () => cluster.cli(replica, 'role').startsWith('master'), RECOVERY_MS, 20).then(since);
    const messages = waitFor(`messages on ${action} cross nodes again`, tick.resumed, RECOVERY_MS, 10).then(since);
    const presence = presenceRight(expectedOnline()).then(since);
    const [promotedMs, messagesMs, presenceMs] = await Promise.all([promoted, messages, presence]);
    await waitFor('both gateways ready again after a 503', () => readiness.readyMs() > 0, RECOVERY_MS, 20);
    const readyMs = readiness.readyMs();
    return { promotedMs, messagesMs, presenceMs, readyMs };
  } finally {
    tick.stop();
    readiness.stop();
  }
}

function report(what: string, t: Failover): void {
  console.log(`failover (${what}): promoted in ${t.promotedMs} ms, messages resumed in ${t.messagesMs} ms, presence re-synced in ${t.presenceMs} ms, /readyz 200 again in ${t.readyMs} ms`);
}

/** After a failover: the new primary serves, both nodes are ready, every action crosses, and a leaving user goes offline for the others. */
async function recoveredFully(victim: number, leaving: string): Promise<void> {
  await cluster.waitClusterOk(RECOVERY_MS);
  expect(cluster.primaries()).not.toContain(victim);
  await waitFor('both gateways ready', async () => (await readyz(a)) === 200 && (await readyz(b)) === 200, RECOVERY_MS, 50);
  await everyActionCrosses();
  await closeTabs(leaving);
  await watchers.a.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === leaving && c.status === 'offline'), RECOVERY_MS);
  await watchers.b.next((f) => f.type === 'presence' && f.changes.some((c: any) => c.userId === leaving && c.status === 'offline'), RECOVERY_MS);
  await presenceRight(expectedOnline());
}

it('joins actions spread over all three primaries, and messages cross nodes on each', async () => {
  expect([...actionsByPrimary.values()].map((list) => list.length)).toEqual([2, 2, 2]);
  await everyActionCrosses(5000);
  expect(await readyz(a)).toBe(200);
  expect(await readyz(b)).toBe(200);
});

it('survives a SIGKILL of the primary holding the presence keys: replica promoted, messages and presence back', async () => {
  const [victim] = presenceHolders();
  expect(victim).toBeDefined();
  const action = actionsByPrimary.get(victim)![0];
  const t = await failover(victim, action, async () => {
    // While the presence keys have no primary: one user leaves, one arrives on the other node.
    await closeTabs('fo-ada');
    await open(b, 'fo-cat');
  });
  report('presence primary', t);
  await recoveredFully(victim, 'fo-ben');
}, 60_000);

it('survives a SIGKILL of a second primary, holding a node\'s presence subscription too', async () => {
  // Presence is partitioned over every primary: this one holds action channels, presence partitions and the subscription.
  const victim = [...actionsByPrimary.keys()].find((p) => cluster.primaries().includes(p))!;
  expect(victim).toBeDefined();
  const action = actionsByPrimary.get(victim)![0];
  // The worst case for presence: node a's presence subscription sits on the primary that dies.
  await steerPresenceSubscription('fo-a', victim);
  await presenceRight(expectedOnline());
  const t = await failover(victim, action, async () => {
    await closeTabs('fo-cat');
    await open(a, 'fo-dan');
  });
  report('second primary', t);
  await recoveredFully(victim, 'fo-dan');
}, 60_000);
