/**
 * The presence drift audit loop on a real redis-server: counters and set members corrupted
 * by hand are repaired, reported and counted (its scheduling on the memory twin with fake
 * timers: unit/audit.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Redis } from 'ioredis';
import { startPresenceAudit } from '../../src/node/audit.js';
import { RedisPresenceStore } from '../../src/presence/redis.js';
import type { PresenceEvent } from '../../src/presence/types.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { driftCounter, fakeLog } from '../harness/audit.js';

const EMPTY = { users: new Map(), memberships: new Map() };

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
