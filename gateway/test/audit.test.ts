/**
 * The presence drift audit loop: runs on a jittered interval, reports and counts what the
 * store repaired, never throws. Unit part on the memory twin with fake timers; integration
 * part on a real redis-server, where a counter corrupted by hand is repaired.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Counter } from 'prom-client';
import { Redis } from 'ioredis';
import { startPresenceAudit } from '../src/audit.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../src/presence/memory.js';
import { RedisPresenceStore } from '../src/presence/redis.js';
import type { DriftRepair, PresenceEvent } from '../src/presence/types.js';
import { startRedis, type RedisServer } from './harness/redis.js';
import { uniquePrefix, waitFor } from './harness/wait.js';

const EMPTY = { users: new Map(), memberships: new Map() };

function fakeLog() {
  return { warn: vi.fn(), debug: vi.fn() };
}

function driftCounter() {
  const presenceDrift = new Counter({ name: 'drift_test_total', help: 'test', registers: [] });
  const value = async () => (await presenceDrift.get()).values[0]?.value ?? 0;
  return { metrics: { presenceDrift }, value };
}

describe('startPresenceAudit on the memory twin', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  async function memoryNode() {
    const backend = createMemoryPresenceBackend();
    const store = new MemoryPresenceStore(backend, 'a', { leaseMs: 60_000 });
    await store.start();
    await store.sync(EMPTY);
    return { backend, store };
  }

  it('repairs a corrupted counter on the next run, logs it once and counts it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { backend, store } = await memoryNode();
    await store.connect('u1', 'ann', 0);
    await store.connect('u1', 'ann', 0);
    backend.counts.set('u1', 7);
    const log = fakeLog();
    const { metrics, value } = driftCounter();
    const stop = startPresenceAudit(store, { intervalMs: 1000, log, metrics });
    await vi.advanceTimersByTimeAsync(1200);
    expect(backend.counts.get('u1')).toBe(2);
    expect(await value()).toBe(1);
    expect(log.warn).toHaveBeenCalledTimes(1);
    const [fields, msg] = log.warn.mock.calls[0] as [{ drift: number; repaired: DriftRepair[] }, string];
    expect(msg).toBe('presence drift repaired');
    expect(fields).toEqual({ drift: 1, repaired: [{ userId: 'u1', expected: 2, found: 7 }] });
    // Consistent now: later runs report nothing.
    await vi.advanceTimersByTimeAsync(5000);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(await value()).toBe(1);
    stop();
  });

  it('runs every interval ±20%, and not at all after stop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const audit = vi.fn(async () => [] as DriftRepair[]);
    const stop = startPresenceAudit({ audit }, { intervalMs: 1000, log: fakeLog() });
    await vi.advanceTimersByTimeAsync(799);
    expect(audit).toHaveBeenCalledTimes(0);
    await vi.advanceTimersByTimeAsync(401);
    expect(audit).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(8 * 1200);
    expect(audit.mock.calls.length).toBeGreaterThanOrEqual(9);
    expect(audit.mock.calls.length).toBeLessThanOrEqual(13);
    stop();
    const calls = audit.mock.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(audit).toHaveBeenCalledTimes(calls);
  });

  it('is off at intervalMs 0', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const audit = vi.fn(async () => [] as DriftRepair[]);
    const stop = startPresenceAudit({ audit }, { intervalMs: 0, log: fakeLog() });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(audit).not.toHaveBeenCalled();
    stop();
  });

  it('never throws: a failing audit is logged at debug and the next one still runs', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const audit = vi.fn<() => Promise<DriftRepair[]>>()
      .mockRejectedValueOnce(new Error('store unreachable'))
      .mockImplementationOnce(() => {
        throw new Error('thrown, not rejected');
      })
      .mockResolvedValue([{ userId: 'u9', expected: 0, found: 1 }]);
    const log = fakeLog();
    const { metrics, value } = driftCounter();
    const stop = startPresenceAudit({ audit }, { intervalMs: 100, log, metrics });
    await vi.advanceTimersByTimeAsync(3 * 120);
    expect(audit).toHaveBeenCalledTimes(3);
    expect(log.debug).toHaveBeenCalledTimes(2);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(await value()).toBe(1);
    stop();
  });
});

describe('startPresenceAudit on Redis', () => {
  let server: RedisServer;
  const clients: Redis[] = [];
  const client = () => {
    const c = new Redis(server.url);
    c.on('error', () => {});
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  it('repairs a counter corrupted by hand, a stray online member and a lost one, with events', async () => {
    const prefix = uniquePrefix('audit');
    const store = new RedisPresenceStore({ redis: client(), subscriber: client(), prefix, nodeId: 'a', leaseMs: 60_000 });
    const events: PresenceEvent[] = [];
    store.onEvent((e) => events.push(e));
    await store.start();
    await store.sync(EMPTY);
    await store.connect('u1', 'ann', 0);
    await store.connect('u1', 'ann', 0);
    const log = fakeLog();
    const { metrics, value } = driftCounter();
    const stop = startPresenceAudit(store, { intervalMs: 50, log, metrics });
    const raw = client();
    const [counts, online] = [`${prefix}presence:counts`, `${prefix}online_users`];
    try {
      await raw.hset(counts, 'u1', 7);
      // The metric moves once the audit's reply is back, after Redis holds the repair.
      await waitFor('repair counted', async () => (await value()) === 1);
      expect(await raw.hget(counts, 'u1')).toBe('2');
      expect(log.warn.mock.calls[0][0]).toEqual({ drift: 1, repaired: [{ userId: 'u1', expected: 2, found: 7 }] });

      await raw.sadd(online, 'ghost');
      await waitFor('stray member repair counted', async () => (await value()) === 2);
      expect(await raw.sismember(online, 'ghost')).toBe(0);
      await raw.multi().hdel(counts, 'u1').srem(online, 'u1').exec();
      await waitFor('lost user repair counted', async () => (await value()) === 3);
      expect([await raw.hget(counts, 'u1'), await raw.sismember(online, 'u1')]).toEqual(['2', 1]);
      const changes = () => events.flatMap((e) => e.changes).map(({ userId, username, status }) => ({ userId, username, status }));
      await waitFor('audit events', () => changes().length === 3);
      expect(changes()).toEqual([
        { userId: 'u1', username: 'ann', status: 'online' }, // the first connect
        { userId: 'ghost', username: 'ghost', status: 'offline' },
        { userId: 'u1', username: 'ann', status: 'online' },
      ]);
      expect(log.warn).toHaveBeenCalledTimes(3);
      expect(log.debug).not.toHaveBeenCalled();
    } finally {
      stop();
      await store.close();
    }
  });
});
