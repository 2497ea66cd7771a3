/**
 * Unit: the presence feed's adaptive window (pure logic, fake timers): a quiet cluster gets a
 * single change within PRESENCE_BATCH_MS; under churn a watcher's frames per second stay
 * bounded by 1000 / maxBatchMs whatever the rate, and no change is lost or reordered; a
 * window too large for one frame becomes a `presence_reset` (or, without a snapshot, frames of
 * bounded size).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { topics, type LocalFanout } from '../../src/connection.js';
import { PresenceFeed } from '../../src/node/presence-feed.js';
import type { PresenceEvent } from '../../src/presence/types.js';

function recorder() {
  const frames: Array<{ at: number; users: string[] }> = [];
  const fanout: LocalFanout = {
    publish: (topic, text) => {
      if (topic === topics.presenceAll) frames.push({ at: Date.now(), users: JSON.parse(text).changes.map((c: { userId: string }) => c.userId) });
    },
    subscribers: () => 0,
  };
  return { fanout, frames };
}

let seq = 0;
const online = (userId: string): PresenceEvent => ({ seq: ++seq, changes: [{ userId, username: userId, status: 'online', ts: Date.now() }] });

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  seq = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PresenceFeed pacing', () => {
  it('delivers a single change in a quiet cluster within batchMs, also right after a storm', async () => {
    const { fanout, frames } = recorder();
    const feed = new PresenceFeed(fanout, { batchMs: 20, maxBatchMs: 250, maxFrameBytes: Infinity });
    const t0 = Date.now();
    feed.push(online('a'));
    await vi.advanceTimersByTimeAsync(20);
    expect(frames).toEqual([{ at: t0 + 20, users: ['a'] }]);

    for (let i = 0; i < 2000; i++) {
      feed.push(online(`s${i}`));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(1000); // the storm is over and a window of silence passed
    const before = frames.length;
    const t1 = Date.now();
    feed.push(online('b'));
    await vi.advanceTimersByTimeAsync(20);
    expect(frames.slice(before)).toEqual([{ at: t1 + 20, users: ['b'] }]);
  });

  it('sends a watcher at most 1000 / maxBatchMs frames per second under churn, every change once, in order', async () => {
    const { fanout, frames } = recorder();
    const feed = new PresenceFeed(fanout, { batchMs: 20, maxBatchMs: 250, maxFrameBytes: Infinity });
    const sent: string[] = [];
    for (let ms = 0; ms < 10_000; ms++) { // 10 s at 1,000 changes per second
      sent.push(`u${ms}`);
      feed.push(online(`u${ms}`));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(250);
    expect(frames.flatMap((f) => f.users)).toEqual(sent);
    // Ramp-up: 20, 40, 80, 160 ms windows; then 250 ms ones: 4 per second.
    expect(frames.length).toBeLessThanOrEqual(4 + Math.ceil(10_000 / 250) + 1);
    const lastSecond = frames.filter((f) => f.at > Date.now() - 1250 && f.at <= Date.now() - 250);
    expect(lastSecond.length).toBeLessThanOrEqual(4);
  });

  it('keeps the fixed window when maxBatchMs equals batchMs', async () => {
    const { fanout, frames } = recorder();
    const feed = new PresenceFeed(fanout, { batchMs: 20, maxBatchMs: 20, maxFrameBytes: Infinity });
    for (let ms = 0; ms < 1000; ms++) {
      feed.push(online(`u${ms}`));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(20);
    expect(frames.length).toBe(50);
  });
});

describe('PresenceFeed frame size', () => {
  function texts() {
    const sent: Array<{ topic: string; msg: any; bytes: number }> = [];
    const fanout: LocalFanout = {
      publish: (topic, text) => void sent.push({ topic, msg: JSON.parse(text), bytes: text.length }),
      subscribers: () => 0,
    };
    return { fanout, sent };
  }
  const burst = (feed: PresenceFeed, from: number, n: number) => {
    for (let i = from; i < from + n; i++) feed.push(online(`user-with-a-longer-id-${i}`));
  };

  it('sends a presence_reset instead of an oversized window, then the changes that arrived meanwhile', async () => {
    const { fanout, sent } = texts();
    let release!: (page: { users: string[] }) => void;
    let reads = 0;
    const snapshot = () => { reads += 1; return new Promise<{ users: string[] }>((r) => { release = r; }); };
    const feed = new PresenceFeed(fanout, { batchMs: 20, maxBatchMs: 250, snapshot, maxFrameBytes: 4096 });
    burst(feed, 0, 500);
    await vi.advanceTimersByTimeAsync(20);
    expect(reads).toBe(1);
    expect(sent).toEqual([]); // nothing until the snapshot is read
    burst(feed, 500, 3);
    await vi.advanceTimersByTimeAsync(500);
    expect(sent).toEqual([]); // held behind the reset
    release({ users: ['user-with-a-longer-id-0'] });
    await vi.advanceTimersByTimeAsync(250); // the held changes wait out a window of their own
    expect(sent.map((f) => f.msg.type)).toEqual(['presence_reset', 'presence']);
    expect(sent[0].msg).toEqual({ type: 'presence_reset', online: ['user-with-a-longer-id-0'], reason: 'churn' });
    expect(sent[1].msg.changes.map((c: { userId: string }) => c.userId)).toEqual([500, 501, 502].map((i) => `user-with-a-longer-id-${i}`));
    expect(Math.max(...sent.map((f) => f.bytes))).toBeLessThanOrEqual(4096);
  });

  it('keeps a watcher at 1000 / maxBatchMs frames a second when windows become presence_resets', async () => {
    const { fanout, sent } = texts();
    // The read takes a few ms, as a Redis round trip does: changes arrive while it runs.
    const snapshot = () => new Promise<{ users: string[] }>((r) => setTimeout(() => r({ users: ['x'] }), 5));
    const feed = new PresenceFeed(fanout, { batchMs: 20, maxBatchMs: 250, snapshot, maxFrameBytes: 4096 });
    for (let ms = 0; ms < 5000; ms++) { // 5 s at 1,000 changes a second: every long window is too big for a frame
      feed.push(online(`user-with-a-longer-id-${ms}`));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(300);
    expect(sent.some((f) => f.msg.type === 'presence_reset')).toBe(true);
    // 4 a second, plus the shorter windows while the window grows (20, 40, 80, 160 ms).
    expect(sent.filter((f) => f.topic === topics.presenceAll).length).toBeLessThanOrEqual(5 * 4 + 4);
  });

  it('splits the window into frames of bounded size, in order, when the snapshot cannot be read', async () => {
    const { fanout, sent } = texts();
    const feed = new PresenceFeed(fanout, { batchMs: 20, snapshot: () => Promise.reject(new Error('store down')), maxFrameBytes: 4096 });
    burst(feed, 0, 500);
    await vi.advanceTimersByTimeAsync(20);
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((f) => f.topic === topics.presenceAll && f.msg.type === 'presence' && f.bytes <= 4096)).toBe(true);
    expect(sent.flatMap((f) => f.msg.changes.map((c: { userId: string }) => c.userId)))
      .toEqual(Array.from({ length: 500 }, (_, i) => `user-with-a-longer-id-${i}`));
  });

  it('replays a late socket its missed changes in frames of bounded size', async () => {
    const { fanout } = texts();
    const feed = new PresenceFeed(fanout, { batchMs: 0, maxFrameBytes: 4096 });
    burst(feed, 0, 300);
    const got: string[] = [];
    const socket = { isOpen: () => true, send: (t: string) => { got.push(t); return true; } };
    feed.replaySince({ socket, watching: '*' } as never, { seq: 100 });
    expect(got.length).toBeGreaterThan(1);
    expect(got.every((t) => t.length <= 4096)).toBe(true);
    expect(got.flatMap((t) => JSON.parse(t).changes.map((c: { userId: string }) => c.userId)))
      .toEqual(Array.from({ length: 200 }, (_, i) => `user-with-a-longer-id-${i + 100}`));
  });
});

describe('PresenceFeed with partitioned presence', () => {
  const change = (userId: string, seq: number, partition: number): PresenceEvent =>
    ({ seq, partition, changes: [{ userId, username: userId, status: 'online', ts: 0 }] });
  const replayed = (feed: PresenceFeed, since: { seq: number; seqs?: number[] }) => {
    const got: string[] = [];
    const socket = { isOpen: () => true, send: (t: string) => { got.push(t); return true; } };
    feed.replaySince({ socket, watching: '*' } as never, since);
    return got.flatMap((t) => JSON.parse(t).changes.map((c: { userId: string }) => c.userId));
  };

  it('replays per partition, and a partition that starts over drops only its own replay', () => {
    const feed = new PresenceFeed(recorder().fanout, { batchMs: 0 });
    feed.push(change('p0-1', 1, 0));
    feed.push(change('p1-1', 1, 1));
    feed.push(change('p0-2', 2, 0));
    feed.push(change('p1-2', 2, 1));
    // Seqs of different partitions are unrelated: equal ones are no restart.
    expect(replayed(feed, { seq: 0, seqs: [1, 0] })).toEqual(['p1-1', 'p0-2', 'p1-2']);
    expect(replayed(feed, { seq: 0, seqs: [2, 2] })).toEqual([]);
    // Partition 1 restarted empty: its seq starts again at 1.
    feed.push(change('p1-new', 1, 1));
    expect(replayed(feed, { seq: 0, seqs: [0, 0] })).toEqual(['p0-1', 'p0-2', 'p1-new']);
  });
});
