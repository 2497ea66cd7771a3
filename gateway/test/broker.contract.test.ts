/**
 * The Broker contract, as one suite run against every implementation: the in-memory twin
 * and Redis (a real redis-server, a unique key prefix per test). Three nodes per test, with
 * ids chosen so that one is a prefix of another ('n', 'n1', 'n12').
 *
 * Absence is checked with a fence, never a sleep: after the message that must not arrive,
 * the same publisher sends a fence on a topic the receiver has; order is kept per publisher,
 * so once the fence is in, the unwanted message would have been too.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryBus, MemoryBroker } from '../src/broker/memory.js';
import { RedisBroker } from '../src/broker/redis.js';
import type { Broker } from '../src/broker/types.js';
import type { Logger } from '../src/log.js';
import { startRedis, type RedisServer } from './harness/redis.js';
import { uniquePrefix, waitFor } from './harness/wait.js';

interface Cluster {
  nodes: Broker[];
  /** Take the bus away and bring it back. */
  outage: { stop(): Promise<void>; start(): Promise<void> };
  close(): Promise<void>;
}

const NODE_IDS = ['n', 'n1', 'n12'];

/** A logger that records what the broker reports. */
function recordingLogger() {
  const log = { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn() };
  return { log, logger: log as unknown as Logger };
}

/** What one node received, with a check that fails on duplicates. */
class Inbox {
  readonly got: { topic: string; payload: string }[] = [];
  constructor(broker: Broker) {
    broker.onMessage((topic, payload) => this.got.push({ topic, payload }));
  }
  payloads(topic?: string): string[] {
    return this.got.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload);
  }
  has(payload: string): boolean {
    return this.got.some((m) => m.payload === payload);
  }
  /** Every payload in `expected` arrived exactly `n` times. */
  times(n: number, expected: string[]): void {
    for (const p of expected) expect(this.got.filter((m) => m.payload === p), p).toHaveLength(n);
  }
}

function deadline<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms))]);
}

function brokerContract(name: string, makeCluster: (logger: Logger) => Promise<Cluster>): void {
  describe(`Broker contract: ${name}`, () => {
    let cluster: Cluster;
    let a: Broker, b: Broker, c: Broker;
    let inA: Inbox, inB: Inbox, inC: Inbox;
    let log: ReturnType<typeof recordingLogger>['log'];

    async function fence(from: Broker, to: Inbox, topic: string): Promise<void> {
      const id = `fence-${Math.random()}`;
      await from.publish(topic, id);
      await waitFor(`fence on ${topic}`, () => to.has(id));
    }

    beforeEach(async () => {
      const recording = recordingLogger();
      log = recording.log;
      cluster = await makeCluster(recording.logger);
      [a, b, c] = cluster.nodes;
      [inA, inB, inC] = cluster.nodes.map((n) => new Inbox(n));
      await waitFor('brokers ready', () => cluster.nodes.every((n) => n.isReady()));
    });
    afterEach(async () => cluster.close());

    it('delivers a payload, untouched, to the other subscribed nodes', async () => {
      await Promise.all([a.subscribe('room'), b.subscribe('room'), c.subscribe('room')]);
      const payload = '{"t":"action","text":"héllo\\nworld 🚀"}\nsecond line\n';
      await a.publish('room', payload);
      await waitFor('b and c', () => inB.has(payload) && inC.has(payload));
      expect(inB.got).toEqual([{ topic: 'room', payload }]);
      expect(inC.got).toEqual([{ topic: 'room', payload }]);
    });

    it('never delivers to the publishing node', async () => {
      await Promise.all([a.subscribe('room'), b.subscribe('room'), c.subscribe('room')]);
      await b.publish('room', 'from-b');
      await c.publish('room', 'from-c');
      await a.publish('room', 'from-a');
      await fence(b, inA, 'room');
      await waitFor('c got from-b', () => inC.has('from-b'));
      expect(inA.payloads()).not.toContain('from-a');
      await fence(a, inB, 'room');
      expect(inB.payloads()).toEqual(['from-c', 'from-a', expect.stringMatching(/^fence-/)]);
      expect(inC.payloads()).not.toContain('from-c');
    });

    it('delivers only to nodes subscribed to the topic', async () => {
      await Promise.all([a.subscribe('room'), b.subscribe('room'), c.subscribe('other')]);
      await a.publish('room', 'for-room');
      await fence(a, inC, 'other');
      await waitFor('b', () => inB.has('for-room'));
      expect(inC.payloads('room')).toEqual([]);
    });

    it('stops delivery after unsubscribe; both calls are idempotent', async () => {
      await Promise.all([b.subscribe('room'), b.subscribe('room'), b.subscribe('other')]);
      await a.publish('room', 'before');
      await waitFor('before', () => inB.has('before'));
      await b.unsubscribe('room');
      await b.unsubscribe('room');
      await b.unsubscribe('never-joined');
      await a.publish('room', 'after');
      await fence(a, inB, 'other');
      expect(inB.payloads('room')).toEqual(['before']);
    });

    it('keeps publish order for 1,000 messages, each delivered exactly once', async () => {
      await b.subscribe('room');
      const sent = Array.from({ length: 1000 }, (_, i) => `m${i}`);
      await Promise.all(sent.map((p) => a.publish('room', p)));
      await fence(a, inB, 'room');
      expect(inB.payloads('room').slice(0, -1)).toEqual(sent);
      inB.times(1, sent);
    });

    it('delivers exactly once per publish from several publishers', async () => {
      await Promise.all([a.subscribe('room'), b.subscribe('room'), c.subscribe('room')]);
      await Promise.all([a.publish('room', 'x'), b.publish('room', 'y'), c.publish('room', 'z')]);
      await Promise.all([fence(a, inB, 'room'), fence(b, inC, 'room'), fence(c, inA, 'room')]);
      inA.times(1, ['y', 'z']);
      inB.times(1, ['x', 'z']);
      inC.times(1, ['x', 'y']);
    });

    it('a later onMessage handler replaces the earlier one', async () => {
      await b.subscribe('room');
      const second: string[] = [];
      b.onMessage((_topic, payload) => second.push(payload));
      await a.publish('room', 'p');
      await waitFor('second handler', () => second.includes('p'));
      expect(inB.got).toEqual([]);
    });

    it('a throwing handler is logged and does not stop later deliveries', async () => {
      await b.subscribe('room');
      const got: string[] = [];
      b.onMessage((_topic, payload) => {
        if (payload === 'boom') throw new Error('handler failed');
        got.push(payload);
      });
      await a.publish('room', 'boom');
      await a.publish('room', 'fine');
      await waitFor('fine', () => got.includes('fine'));
      expect(log.error).toHaveBeenCalledTimes(1);
    });

    it('after close: no delivery, publish rejects, not ready', async () => {
      await Promise.all([b.subscribe('room'), c.subscribe('room')]);
      await b.close();
      expect(b.isReady()).toBe(false);
      await expect(b.publish('room', 'x')).rejects.toThrow(/closed/);
      await a.publish('room', 'late');
      await fence(a, inC, 'room');
      expect(inC.has('late')).toBe(true);
      expect(inB.got).toEqual([]);
    });

    it('rejects publishes while the bus is down, and delivers again once it is back', async () => {
      await b.subscribe('room');
      await cluster.outage.stop();
      await expect(deadline(a.publish('room', 'during'), 3000)).rejects.toThrow(/unavailable/);
      await waitFor('not ready', () => !a.isReady());
      await expect(deadline(a.publish('room', 'during-2'), 500)).rejects.toThrow(/unavailable/);
      await cluster.outage.start();
      let n = 0;
      await waitFor('delivery resumes', async () => {
        await a.publish('room', `after-${(n += 1)}`).catch(() => undefined);
        return inB.payloads('room').some((p) => p.startsWith('after-'));
      }, 15_000, 100);
      expect(inB.payloads('room')).not.toContain('during');
      const first = inB.payloads('room').find((p) => p.startsWith('after-'))!;
      await fence(a, inB, 'room');
      inB.times(1, [first]);
    });
  });
}

brokerContract('memory', async (logger) => {
  const bus = createMemoryBus();
  const nodes = NODE_IDS.map((id) => new MemoryBroker(bus, id, logger));
  return {
    nodes,
    outage: { stop: async () => bus.setReachable(false), start: async () => bus.setReachable(true) },
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

brokerContract('redis', async (logger) => {
  const prefix = uniquePrefix('broker');
  const clients: Redis[] = [];
  const client = (options: RedisOptions) => {
    const c = new Redis({ host: '127.0.0.1', port: redis.port, ...options });
    c.on('error', () => {}); // connection errors surface through status and rejected commands
    clients.push(c);
    return c;
  };
  const nodes = NODE_IDS.map((nodeId) => new RedisBroker({
    publisher: client({ enableOfflineQueue: false, autoResendUnfulfilledCommands: false }),
    subscriber: client({}),
    prefix,
    nodeId,
    logger,
    publishTimeoutMs: 1000,
  }));
  return {
    nodes,
    outage: { stop: () => redis.stop(), start: () => redis.start() },
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      for (const c of clients) c.disconnect();
    },
  };
});

describe('RedisBroker wire format', () => {
  it('sends `${nodeId}\\n${payload}` on `${prefix}action:${topic}` and drops messages without an origin', async () => {
    const prefix = uniquePrefix('wire');
    const raw = redis.client();
    const [publisher, subscriber] = [redis.client(), redis.client()];
    const { log, logger } = recordingLogger();
    const broker = new RedisBroker({ publisher, subscriber, prefix, nodeId: 'n1', logger });
    const got: string[] = [];
    broker.onMessage((_t, payload) => got.push(payload));
    await waitFor('broker ready', () => broker.isReady());
    await broker.subscribe('room');
    const seen: string[] = [];
    await raw.subscribe(`${prefix}action:room`);
    raw.on('message', (_channel, message: string) => seen.push(message));
    await broker.publish('room', 'hello');
    await waitFor('raw copy', () => seen.length === 1);
    expect(seen).toEqual(['n1\nhello']);
    const sender = redis.client();
    await sender.publish(`${prefix}action:room`, 'no-origin');
    await sender.publish(`${prefix}action:room`, 'n12\nfrom n12');
    await waitFor('n12 message', () => got.length === 1);
    expect(got).toEqual(['from n12']);
    expect(log.warn).toHaveBeenCalledTimes(1);
    await broker.close();
    for (const c of [raw, publisher, subscriber, sender]) c.disconnect();
  });
});
