/**
 * Unit: the presence feed's adaptive window (pure logic, fake timers): a quiet cluster gets a
 * single change within PRESENCE_BATCH_MS; under churn a watcher's frames per second stay
 * bounded by 1000 / maxBatchMs whatever the rate, and no change is lost or reordered.
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
    const feed = new PresenceFeed(fanout, 20, 250);
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
    const feed = new PresenceFeed(fanout, 20, 250);
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
    const feed = new PresenceFeed(fanout, 20, 20);
    for (let ms = 0; ms < 1000; ms++) {
      feed.push(online(`u${ms}`));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(20);
    expect(frames.length).toBe(50);
  });
});
