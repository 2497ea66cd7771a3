/**
 * The Broker contract, as one suite run against every implementation (broker.contract.test.ts
 * runs it on the in-memory twin, a real redis-server and a real three-primary Redis Cluster,
 * a unique key prefix per test). Three nodes per test, with ids chosen so that one is a
 * prefix of another ('n', 'n1', 'n12').
 *
 * Absence is checked with a fence, never a sleep: after the message that must not arrive,
 * the same publisher sends a fence on a topic the receiver has; order is kept per publisher,
 * so once the fence is in, the unwanted message would have been too.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Broker, Delivery, HistoryPolicy, StreamPosition } from '../../src/broker/types.js';
import type { Logger } from '../../src/log.js';
import { waitFor } from '../harness/wait.js';

export interface Cluster {
  nodes: Broker[];
  /** Take the bus away and bring it back. */
  outage: { stop(): Promise<void>; start(): Promise<void> };
  /** Lose every stream, as a bus restarted empty. */
  wipe(): Promise<void>;
  close(): Promise<void>;
}

export const NODE_IDS = ['n', 'n1', 'n12'];

/** A logger that records what the broker reports. */
export function recordingLogger() {
  const log = { error: vi.fn(), warn: vi.fn(), info: vi.fn(), debug: vi.fn() };
  return { log, logger: log as unknown as Logger };
}

/** What one node received, with a check that fails on duplicates. */
class Inbox {
  readonly got: { topic: string; payload: string }[] = [];
  readonly positions: Array<Delivery['position']> = [];
  constructor(broker: Broker) {
    broker.onMessage(({ topic, payload, position }) => {
      this.got.push({ topic, payload });
      this.positions.push(position);
    });
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

export function brokerContract(name: string, makeCluster: (logger: Logger) => Promise<Cluster>): void {
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
      b.onMessage(({ payload }) => second.push(payload));
      await a.publish('room', 'p');
      await waitFor('second handler', () => second.includes('p'));
      expect(inB.got).toEqual([]);
    });

    it('a throwing handler is logged and does not stop later deliveries', async () => {
      await b.subscribe('room');
      const got: string[] = [];
      b.onMessage(({ payload }) => {
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

    it('says when live delivery is back after an interruption, with every topic subscribed again by then', async () => {
      await b.subscribe('room');
      let resumed = 0;
      b.onResumed(() => (resumed += 1));
      await cluster.outage.stop();
      await waitFor('not ready', () => !a.isReady() && !b.isReady());
      expect(resumed).toBe(0);
      await cluster.outage.start();
      await waitFor('resumed', () => resumed > 0, 15_000);
      await waitFor('publisher back', () => a.isReady(), 15_000);
      await a.publish('room', 'first-after-resume');
      await waitFor('delivered', () => inB.payloads('room').includes('first-after-resume'));
      expect(resumed).toBe(1);
    });

    describe('history topics', () => {
      const keep: HistoryPolicy = { count: 100, ageMs: 60_000 };
      const read = (n: Broker, q: Partial<Parameters<Broker['history']>[1]>) => n.history('h', { limit: 100, policy: keep, ...q });

      it('deliver to every subscribed node, the publisher included, each with its position', async () => {
        await Promise.all([a.subscribe('h'), b.subscribe('h'), c.subscribe('h')]);
        const first = await a.publish('h', 'one', { history: keep });
        const second = await b.publish('h', 'two', { history: keep });
        for (const inbox of [inA, inB, inC]) {
          await waitFor('both', () => inbox.has('two'));
          expect(inbox.payloads('h')).toEqual(['one', 'two']);
          expect(inbox.positions).toEqual([
            { offset: first.offset, prev: '0-0', epoch: first.epoch },
            { offset: second.offset, prev: first.offset, epoch: first.epoch },
          ]);
          inbox.times(1, ['one', 'two']);
        }
        expect(second.epoch).toBe(first.epoch);
      });

      it('keep one order for every node, with an unbroken prev chain, for 300 publishes from three nodes', async () => {
        await Promise.all([a.subscribe('h'), b.subscribe('h'), c.subscribe('h')]);
        const sent = Array.from({ length: 300 }, (_, i) => `m${i}`);
        await Promise.all(sent.map((p, i) => [a, b, c][i % 3].publish('h', p, { history: keep })));
        await waitFor('all', () => [inA, inB, inC].every((x) => x.payloads('h').length === 300));
        expect(inB.payloads('h')).toEqual(inA.payloads('h'));
        expect(inC.payloads('h')).toEqual(inA.payloads('h'));
        for (let i = 1; i < 300; i += 1) expect(inA.positions[i]!.prev).toBe(inA.positions[i - 1]!.offset);
      });

      it('read the last messages, or those after an offset, with the stream position taken in the same step', async () => {
        const published: Array<Partial<StreamPosition>> = [];
        for (const p of ['p0', 'p1', 'p2', 'p3', 'p4']) published.push(await a.publish('h', p, { history: keep }));
        const last = await read(b, { last: 3 });
        expect(last.messages.map((m) => m.payload)).toEqual(['p2', 'p3', 'p4']);
        expect(last.top).toEqual({ offset: published[4].offset, epoch: published[0].epoch });
        const since = await read(c, { since: { offset: published[1].offset!, epoch: published[0].epoch } });
        expect(since).toMatchObject({ recovered: true, top: last.top });
        expect(since.messages).toEqual([2, 3, 4].map((i) => ({ offset: published[i].offset, payload: `p${i}` })));
        expect((await read(c, { since: { offset: published[4].offset! } })).messages).toEqual([]);
      });

      it('say not recovered when messages after the offset were trimmed, the epoch differs, or the offset is beyond the end', async () => {
        const two: HistoryPolicy = { count: 2, ageMs: 60_000 };
        const published: Array<Partial<StreamPosition>> = [];
        for (const p of ['p0', 'p1', 'p2', 'p3']) published.push(await a.publish('h', p, { history: two }));
        const epoch = published[0].epoch;
        expect(await read(b, { since: { offset: published[0].offset!, epoch } })).toMatchObject({ recovered: false, messages: [] });
        const kept = await read(b, { since: { offset: published[1].offset!, epoch } });
        expect(kept).toMatchObject({ recovered: true });
        expect(kept.messages.map((m) => m.payload)).toEqual(['p2', 'p3']);
        expect(await read(b, { since: { offset: published[2].offset!, epoch: 'another' } })).toMatchObject({ recovered: false });
        expect(await read(b, { since: { offset: '99999999999999-0', epoch } })).toMatchObject({ recovered: false });
      });

      it('trim by age at the next publish, and expire a stream idle for its age (a new epoch)', async () => {
        const brief: HistoryPolicy = { count: 100, ageMs: 1000 };
        const start = Date.now();
        const first = await a.publish('h', 'old', { history: brief });
        await waitFor('600 ms', () => Date.now() > start + 600, 3000, 20);
        await a.publish('h', 'mid', { history: brief });
        await waitFor('the first message to age past 1 s', () => Date.now() > start + 1150, 3000, 20);
        await a.publish('h', 'new', { history: brief });
        const since = (offset: string) => a.history('h', { since: { offset, epoch: first.epoch }, limit: 10, policy: brief });
        expect((await since('0-0')).recovered).toBe(false);
        expect((await since(first.offset!)).messages.map((m) => m.payload)).toEqual(['mid', 'new']);
        const idle = Date.now() + 1100;
        await waitFor('the stream to sit idle past its age', () => Date.now() > idle, 3000, 50);
        const later = await a.publish('h', 'later', { history: brief });
        expect(later.epoch).not.toBe(first.epoch);
      });

      it('hand out a position before the first message, which the first messages continue', async () => {
        const empty = await read(a, { last: 0 });
        expect(empty.top.offset).toBe('0-0');
        expect(empty.messages).toEqual([]);
        const p = await b.publish('h', 'first', { history: keep });
        expect(p.epoch).toBe(empty.top.epoch);
        const r = await read(c, { since: empty.top });
        expect(r).toMatchObject({ recovered: true, messages: [{ offset: p.offset, payload: 'first' }] });
      });

      it('start a new epoch when the stream is recreated, so old positions never match it', async () => {
        const old = await a.publish('h', 'before', { history: keep });
        await cluster.wipe();
        const fresh = await a.publish('h', 'after', { history: keep });
        expect(fresh.epoch).not.toBe(old.epoch);
        expect(await read(b, { since: { offset: old.offset!, epoch: old.epoch } })).toMatchObject({ recovered: false, messages: [] });
        expect((await read(b, { last: 5 })).messages.map((m) => m.payload)).toEqual(['after']);
      });

      it('reject reads and history publishes while the bus is down', async () => {
        await cluster.outage.stop();
        await waitFor('not ready', () => !a.isReady());
        await expect(deadline(a.publish('h', 'x', { history: keep }), 3000)).rejects.toThrow(/unavailable/);
        await expect(deadline(read(a, { last: 1 }), 3000)).rejects.toThrow(/unavailable/);
        await cluster.outage.start();
      });
    });
  });
}

