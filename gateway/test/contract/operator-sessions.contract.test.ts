/**
 * Operator sessions (the /admin page's cookie sessions): the same specification against the
 * memory twin and Redis (one real redis-server for this file, a unique key prefix per setup).
 * Redis is what lets a cookie set by one node work on another.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { MemoryOperatorSessions } from '../../src/operators/memory.js';
import { RedisOperatorSessions } from '../../src/operators/redis.js';
import type { OperatorSession, OperatorSessionStore } from '../../src/operators/types.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';

interface Setup {
  /** Two handles on one store (two nodes of one cluster; the same object for the memory twin). */
  nodes: [OperatorSessionStore, OperatorSessionStore];
  /** Write `text` as the stored value of `key`, behind the store's back (a corrupt or foreign entry). */
  corrupt?(key: string, text: string): Promise<void>;
  /** Whether the store still holds anything under `key` (Redis: the key exists). */
  stored?(key: string): Promise<boolean>;
}

const session = (over: Partial<OperatorSession> = {}): OperatorSession => ({
  userId: 'u1', username: 'root', csrf: 'c'.repeat(43), tokenVersion: 0, createdAt: Date.now(), expiresAt: Date.now() + 60_000, ...over,
});

function contract(name: string, make: () => Setup): void {
  describe(`OperatorSessionStore contract: ${name}`, () => {
    it('gives back what was put, on every node, until it is deleted', async () => {
      const { nodes: [a, b] } = make();
      const s = session();
      await a.put('k1', s);
      expect(await b.get('k1')).toEqual(s);
      expect(await a.get('k1')).toEqual(s);
      await b.delete('k1');
      expect(await a.get('k1')).toBeUndefined();
      await a.delete('k1'); // idempotent
    });

    it('knows nothing of keys it was never given, and keeps sessions apart by key', async () => {
      const { nodes: [a, b] } = make();
      expect(await a.get('never')).toBeUndefined();
      await a.put('k1', session({ username: 'one' }));
      await a.put('k2', session({ username: 'two' }));
      expect((await b.get('k1'))?.username).toBe('one');
      expect((await b.get('k2'))?.username).toBe('two');
      await a.delete('k1');
      expect((await b.get('k2'))?.username).toBe('two');
    });

    it('expires a session at its expiresAt by itself, on every node', async () => {
      const { nodes: [a, b], stored } = make();
      await a.put('short', session({ expiresAt: Date.now() + 300 }));
      await a.put('long', session());
      expect(await b.get('short')).toBeDefined();
      await waitFor('the short session to expire', async () => (await b.get('short')) === undefined, 3000);
      expect(await a.get('short')).toBeUndefined();
      expect(await a.get('long')).toBeDefined();
      if (stored) await waitFor('the store to drop the expired entry itself', async () => !(await stored('short')), 3000);
    });

    it('replaces a session put again under the same key', async () => {
      const { nodes: [a, b] } = make();
      await a.put('k', session({ csrf: 'first' }));
      await b.put('k', session({ csrf: 'second' }));
      expect((await a.get('k'))?.csrf).toBe('second');
    });

    it('reads an entry that is not a session as no session', async () => {
      const setup = make();
      if (!setup.corrupt) return;
      await setup.corrupt('bad', '{"userId":1}');
      expect(await setup.nodes[0].get('bad')).toBeUndefined();
      await setup.corrupt('worse', 'not json');
      expect(await setup.nodes[0].get('worse')).toBeUndefined();
    });
  });
}

contract('memory', () => {
  const store = new MemoryOperatorSessions();
  return { nodes: [store, store] };
});

describe('memory twin bounds', () => {
  it('keeps at most `max` sessions, dropping expired ones first, then the oldest', async () => {
    let now = 1_000;
    const store = new MemoryOperatorSessions(() => now, 3);
    await store.put('old', session({ expiresAt: 5_000 }));
    await store.put('gone', session({ expiresAt: 1_500 }));
    await store.put('mid', session({ expiresAt: 5_000 }));
    now = 2_000;
    await store.put('new', session({ expiresAt: 5_000 }));
    expect(await store.get('old')).toBeDefined(); // the expired one made room
    await store.put('newer', session({ expiresAt: 5_000 }));
    expect(await store.get('old')).toBeUndefined(); // then the oldest
    expect(await store.get('newer')).toBeDefined();
  });
});

let server: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  server = await startRedis();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await server?.stop();
});

contract('redis', () => {
  const prefix = uniquePrefix('ops');
  const [one, two] = [server.client(), server.client()];
  clients.push(one, two);
  return {
    nodes: [new RedisOperatorSessions(one, prefix), new RedisOperatorSessions(two, prefix)],
    corrupt: async (key, text) => void (await one.set(`${prefix}operator-session:${key}`, text)),
    stored: async (key) => (await one.exists(`${prefix}operator-session:${key}`)) === 1,
  };
});
