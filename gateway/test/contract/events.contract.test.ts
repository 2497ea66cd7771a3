/**
 * Event stream contract: the same specification against the memory twin and Redis (one real
 * redis-server for this file, a unique key prefix per test). The presence scripts write the
 * stream; the EventLog reads it as the webhook deliverer does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterEvent, EventLog } from '../../src/events/types.js';
import { MemoryEventLog } from '../../src/events/memory.js';
import { RedisEventLog } from '../../src/events/redis.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import type { PresenceStore } from '../../src/presence/types.js';
import { clientPool, startRedis, type RedisServer } from '../harness/redis.js';
import { replay } from '../harness/replay.js';
import { compareOffsets } from '../../../shared/offsets.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';

interface Setup {
  /** A started, registered node writing to the shared store. */
  node(id: string, leaseMs?: number): Promise<PresenceStore>;
  /** A reader of the stream as node `id`. */
  log(id: string): EventLog;
  untilExpired(id: string): Promise<void>;
  /** Put `userId` in the online set behind every script's back (drift for the audit). */
  strayOnline(userId: string): Promise<void>;
  /** The store comes back empty (Redis restart). */
  wipe?(): Promise<void>;
  dispose(): Promise<void>;
}

const LONG = 60_000;
const empty = () => ({ users: new Map(), memberships: new Map() });

function memorySetup(maxLen: number): Promise<Setup> {
  let clock = 1_000_000;
  const backend = createMemoryPresenceBackend({ now: () => (clock += 1), eventsMaxLen: maxLen });
  const log = new MemoryEventLog(backend);
  return Promise.resolve({
    async node(id, leaseMs = LONG) {
      const store = new MemoryPresenceStore(backend, id, { leaseMs });
      await store.start();
      await store.sync(empty());
      return store;
    },
    log: () => log,
    async untilExpired(id) {
      clock = Math.max(clock, (backend.leases.get(id) ?? clock) + 1);
    },
    async strayOnline(userId) {
      backend.online.add(userId);
    },
    async dispose() {},
  });
}

function redisSetup(server: () => RedisServer) {
  return async (maxLen: number): Promise<Setup> => {
    const prefix = uniquePrefix('events');
    const pool = clientPool(server);
    const { client, all: clients } = pool;
    const probe = client();
    const stores: PresenceStore[] = [];
    return {
      async node(nodeId, leaseMs = LONG) {
        const store = new RedisPresenceStore({ redis: client(), subscriber: client(), prefix, nodeId, leaseMs, eventsMaxLen: maxLen });
        stores.push(store);
        await store.start();
        await store.sync(empty());
        return store;
      },
      log: (nodeId) => new RedisEventLog({ redis: client(), prefix, nodeId }),
      async untilExpired(nodeId) {
        await waitFor(`lease of ${nodeId} to expire`, async () => {
          const [score, [sec, usec]] = await Promise.all([probe.zscore(`${prefix}presence:nodes`, nodeId), probe.time()]);
          return score !== null && Number(score) < Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
        });
      },
      async strayOnline(userId) {
        await probe.sadd(`${prefix}online_users`, userId);
      },
      async wipe() {
        await server().stop();
        await server().start();
        await waitFor('clients to reconnect', () => clients.every((c) => c.status === 'ready'), 10_000);
      },
      async dispose() {
        await Promise.all(stores.map((s) => s.close()));
        pool.disconnect();
      },
    };
  };
}

/** The store's own state, read through its paged queries. */
async function stateOf(store: PresenceStore): Promise<{ online: string[]; members: Record<string, string[]> }> {
  const online = (await store.online(undefined, 1000)).users.sort();
  const members: Record<string, string[]> = {};
  for (const { action } of (await store.channels('', undefined, 1000)).channels) {
    members[action] = (await store.members(action, undefined, 1000)).users.map((u) => u.id).sort();
  }
  return { online, members };
}

async function readAll(log: EventLog): Promise<ClusterEvent[]> {
  return log.range('0-0', 100_000);
}

function eventsContract(name: string, make: (maxLen: number) => Promise<Setup>): void {
  describe(`EventLog contract: ${name}`, () => {
    it('replays to the exact online set and memberships, with a reason and node per event, the reaper\'s included', async () => {
      const s = await make(10_000);
      const a = await s.node('a');
      const b = await s.node('b', 300);
      await a.connect('u1', 'one', 0);
      await a.connect('u2', 'two', 0);
      await b.connect('u2', 'two', 0);
      await b.connect('u3', 'three', 0);
      await a.join('room', 'c1', 'u1', 'one');
      await b.join('room', 'c3', 'u3', 'three');
      await b.join('chat', 'c2b', 'u2', 'two');
      await a.join('chat', 'c2a', 'u2', 'two');
      await a.leave('room', 'c1', 'u1', 'one');
      await a.disconnect('u1', 'one', 'c1', []);
      await s.untilExpired('b');
      expect(await a.reap()).toEqual(['b']);
      const events = await readAll(s.log('a'));
      expect(replay(events)).toEqual(await stateOf(a));
      expect(replay(events)).toEqual({ online: ['u2'], members: { chat: ['u2'] } });
      const lost = events.filter((e) => e.reason === 'node_lost');
      expect(lost.map((e) => [e.type, e.userId, e.action ?? '', e.node])).toEqual(
        expect.arrayContaining([['offline', 'u3', '', 'b'], ['left', 'u3', 'room', 'b']]),
      );
      expect(lost).toHaveLength(2); // u2 stays online and in chat through its connection on a
      expect(events.find((e) => e.type === 'online' && e.userId === 'u1')).toMatchObject({ reason: 'connect', node: 'a', username: 'one' });
      expect(events.find((e) => e.type === 'left' && e.userId === 'u1')).toMatchObject({ reason: 'leave', node: 'a', action: 'room' });
      expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort(compareOffsets));
      await s.dispose();
    });

    it('records the audit\'s repairs, so a replay still equals the repaired state', async () => {
      const s = await make(10_000);
      const a = await s.node('a');
      await a.connect('u1', 'one', 0);
      await s.strayOnline('ghost');
      expect((await a.audit()).map((r) => r.userId)).toEqual(['ghost']);
      const events = await readAll(s.log('a'));
      expect(events.at(-1)).toMatchObject({ type: 'offline', userId: 'ghost', reason: 'repair', node: 'a' });
      expect(replay(events)).toEqual(await stateOf(a));
      await s.dispose();
    });

    it('hands entries out in order, again until acknowledged, and to the next deliverer after a crash', async () => {
      const s = await make(10_000);
      const a = await s.node('a');
      for (let i = 0; i < 5; i++) await a.connect(`u${i}`, `n${i}`, 0);
      const first = s.log('a');
      expect(await first.lead(10_000)).toBe(true);
      const batch = await first.next(3);
      expect(batch.events.map((e) => e.userId)).toEqual(['u0', 'u1', 'u2']);
      expect(batch.gap).toBeUndefined();
      // 'a' dies without acknowledging: the next deliverer gets the same entries first.
      const second = s.log('b');
      const again = await second.next(10);
      expect(again.events.map((e) => e.id)).toEqual(batch.events.map((e) => e.id));
      await second.ack(again.events.map((e) => e.id));
      expect((await second.next(10)).events.map((e) => e.userId)).toEqual(['u3', 'u4']);
      await s.dispose();
    });

    it('reads the last entries, oldest first, without handing them out to the deliverer (tail)', async () => {
      const s = await make(10_000);
      const a = await s.node('a');
      expect(await s.log('a').tail(5)).toEqual([]);
      for (let i = 0; i < 5; i++) await a.connect(`u${i}`, `n${i}`, 0);
      const log = s.log('a');
      expect((await log.tail(2)).map((e) => e.userId)).toEqual(['u3', 'u4']);
      expect((await log.tail(50)).map((e) => e.userId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
      expect(await log.tail(0)).toEqual([]);
      expect((await log.next(10)).events.map((e) => e.userId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
      await s.dispose();
    });

    it('reports entries trimmed before delivery as one gap, then continues after it', async () => {
      const s = await make(10);
      const a = await s.node('a');
      const log = s.log('a');
      expect((await log.next(10)).events).toEqual([]);
      for (let i = 0; i < 400; i++) await a.connect(`u${i}`, `n${i}`, 0);
      const batch = await log.next(1000);
      expect(batch.gap?.reason).toBe('trimmed');
      expect(batch.events.length).toBeGreaterThan(0);
      expect(compareOffsets(batch.events[0].id, batch.gap!.through)).toBeGreaterThan(0);
      expect(batch.events.at(-1)!.userId).toBe('u399');
      await log.ack(batch.events.map((e) => e.id));
      const after = await log.next(10);
      expect(after).toEqual({ events: [] });
      await s.dispose();
    });

    it('lets one node deliver at a time, and another once it resigns', async () => {
      const s = await make(100);
      const [x, y] = [s.log('x'), s.log('y')];
      expect(await x.lead(10_000)).toBe(true);
      expect(await x.lead(10_000)).toBe(true);
      if (name === 'memory') return s.dispose(); // one node: always the deliverer
      expect(await y.lead(10_000)).toBe(false);
      await x.resign();
      expect(await y.lead(10_000)).toBe(true);
      expect(await x.lead(10_000)).toBe(false);
      await s.dispose();
    });
  });
}

eventsContract('memory', memorySetup);

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  await server?.stop();
});
eventsContract('redis', (maxLen) => redisSetup(() => server)(maxLen));

describe('RedisEventLog after Redis came back empty', () => {
  it('reports a reset gap, then delivers the new stream from its start', async () => {
    const s = await redisSetup(() => server)(1000);
    const a = await s.node('a');
    await a.connect('u1', 'one', 0);
    const log = s.log('a');
    const before = await log.next(10);
    await log.ack(before.events.map((e) => e.id));
    await s.wipe!();
    await a.sync({ users: new Map([['u1', { count: 1, username: 'one' }]]), memberships: new Map() });
    const batch = await log.next(10);
    expect(batch.gap).toMatchObject({ reason: 'reset', after: before.events[0].id });
    expect(batch.events.map((e) => [e.type, e.userId, e.reason])).toEqual([['online', 'u1', 'sync']]);
    await s.dispose();
  });
});
