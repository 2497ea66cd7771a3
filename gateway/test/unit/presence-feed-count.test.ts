/**
 * Unit: the `*` feed of a large cluster (PRESENCE_LIST_MAX; pure logic, fake timers): past the
 * limit `*` watchers get `presence_count` frames (at most one per COUNT_EVERY_MS) instead of the changes, watchers of a
 * list still get every change of their users, and listing resumes with a `presence_reset`
 * ('listed') once the count falls to LIST_RESUME of the limit.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { topics, type Connection, type LocalFanout } from '../../src/connection.js';
import { COUNT_EVERY_MS, LIST_RESUME, PresenceFeed } from '../../src/node/presence-feed.js';
import type { PresenceEvent } from '../../src/presence/types.js';

function recorder() {
  const sent: Array<{ topic: string; msg: any }> = [];
  const fanout: LocalFanout = {
    publish: (topic, text) => void sent.push({ topic, msg: JSON.parse(text) }),
    subscribers: (topic) => (topic === topics.presenceCount || topic === topics.presenceOf('u1') ? 1 : 0),
  };
  const all = () => sent.filter((s) => s.topic === topics.presenceAll).map((s) => s.msg);
  return { fanout, sent, all };
}

let seq = 0;
/** The store's online count, as the changes made so far leave it. */
let stored = 0;
const change = (userId: string, status: 'online' | 'offline'): PresenceEvent => {
  stored += status === 'online' ? 1 : -1;
  return { seq: ++seq, changes: [{ userId, username: userId, status, ts: Date.now() }] };
};

function feedOf(fanout: LocalFanout, opts: { count?: () => Promise<number>; snapshot?: () => Promise<{ users: string[]; cursor?: string }> } = {}) {
  return new PresenceFeed(fanout, {
    batchMs: 20, maxBatchMs: 250, listMax: 3,
    count: opts.count ?? (async () => stored),
    snapshot: opts.snapshot ?? (async () => ({ users: ['u1', 'u2'] })),
  });
}

/** Push `events`, then wait out their window and the count frames' spacing (COUNT_EVERY_MS). */
async function window(feed: PresenceFeed, ...events: PresenceEvent[]) {
  for (const e of events) feed.push(e);
  await vi.advanceTimersByTimeAsync(COUNT_EVERY_MS + 300);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  seq = 0;
  stored = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

describe('PresenceFeed in a large cluster', () => {
  it('lists up to the limit, then counts: a count frame when the count changed, none when it did not', async () => {
    const { fanout, all } = recorder();
    const feed = feedOf(fanout);
    await feed.start();
    for (const u of ['u1', 'u2', 'u3']) await window(feed, change(u, 'online'));
    expect(all().map((m) => m.type)).toEqual(['presence', 'presence', 'presence']);
    expect(feed.listed).toBe(true);

    await window(feed, change('u4', 'online'), change('u5', 'online'));
    expect(feed.listed).toBe(false);
    expect(all().slice(3)).toEqual([{ type: 'presence_count', onlineCount: 5, listed: false }]);
    // A flap within one window changes nothing: no frame at all.
    await window(feed, change('u5', 'offline'), change('u5', 'online'));
    expect(all()).toHaveLength(4);
    feed.close();
  });

  it('still sends watchers of a list every change of their users while counting', async () => {
    const { fanout, sent } = recorder();
    const feed = feedOf(fanout, { count: async () => 10 });
    await feed.start();
    expect(feed.listed).toBe(false);
    await window(feed, change('u1', 'offline'), change('u9', 'offline'));
    const mine = sent.filter((s) => s.topic === topics.presenceOf('u1')).map((s) => s.msg);
    expect(mine).toEqual([{ type: 'presence', changes: [expect.objectContaining({ userId: 'u1', status: 'offline' })] }]);
    const counts = sent.filter((s) => s.topic === topics.presenceCount).map((s) => s.msg);
    expect(counts.at(-1)).toEqual({ type: 'presence_count', onlineCount: 8, listed: false });
    feed.close();
  });

  it('bounds a `*` watcher to one count frame per COUNT_EVERY_MS in a storm, the last count exact', async () => {
    const { fanout, all } = recorder();
    let stored = 100;
    const feed = feedOf(fanout, { count: async () => stored });
    await feed.start();
    const before = all().length;
    for (let ms = 0; ms < 5000; ms++) {
      stored += 1;
      feed.push(change(`s${ms}`, 'online'));
      await vi.advanceTimersByTimeAsync(1);
    }
    await vi.advanceTimersByTimeAsync(COUNT_EVERY_MS + 300);
    const frames = all().slice(before);
    expect(frames.every((m) => m.type === 'presence_count')).toBe(true);
    expect(frames.length).toBeLessThanOrEqual((5000 + COUNT_EVERY_MS) / COUNT_EVERY_MS + 1);
    expect(frames.at(-1).onlineCount).toBe(5100);
    feed.close();
  });

  it('lists again with a presence_reset once the count falls to the resume level', async () => {
    const { fanout, sent, all } = recorder();
    const feed = feedOf(fanout, { count: async () => 4 });
    await feed.start();
    expect(Math.floor(3 * LIST_RESUME)).toBe(2);
    await window(feed, change('u3', 'offline')); // 3: not yet
    expect(feed.listed).toBe(false);
    await window(feed, change('u4', 'offline')); // 2: resume
    expect(feed.listed).toBe(true);
    expect(all().at(-1)).toEqual({ type: 'presence_reset', online: ['u1', 'u2'], reason: 'listed' });
    expect(sent.filter((s) => s.topic === topics.presenceCount).at(-1)!.msg).toEqual({ type: 'presence_count', onlineCount: 2, listed: true });
    await window(feed, change('u5', 'online'));
    expect(all().at(-1).type).toBe('presence');
    feed.close();
  });

  it('keeps counting when the snapshot for listing again cannot be read, and says so again', async () => {
    const { fanout, sent, all } = recorder();
    const feed = feedOf(fanout, { count: async () => 4, snapshot: async () => { throw new Error('down'); } });
    await feed.start();
    await window(feed, change('u3', 'offline'), change('u4', 'offline'));
    expect(feed.listed).toBe(false);
    // Watchers of the count never heard `listed: true`: the switch did not happen.
    expect(sent.filter((s) => s.topic === topics.presenceCount).map((s) => s.msg.listed)).not.toContain(true);
    await window(feed, change('u4', 'online'));
    expect(all().at(-1)).toEqual({ type: 'presence_count', onlineCount: 3, listed: false });
    feed.close();
  });

  it('corrects its count from the store every few seconds, switching modes when it must', async () => {
    let stored = 0;
    const { fanout, all } = recorder();
    const feed = feedOf(fanout, { count: async () => stored });
    await feed.start();
    stored = 50;
    await vi.advanceTimersByTimeAsync(5000);
    expect(feed.count).toBe(50);
    expect(feed.listed).toBe(false);
    expect(all().at(-1)).toEqual({ type: 'presence_count', onlineCount: 50, listed: false });
    feed.close();
  });

  it('tells a new follower the last count sent, so a change undone before the next frame leaves it right', async () => {
    const { fanout, all } = recorder();
    const feed = feedOf(fanout, { count: async () => 4 });
    await feed.start();
    await window(feed, change('u9', 'online')); // 5, sent
    expect(all().at(-1)).toEqual({ type: 'presence_count', onlineCount: 5, listed: false });
    feed.push(change('u9', 'offline'));
    await vi.advanceTimersByTimeAsync(50); // flushed (4), its frame held back by COUNT_EVERY_MS
    expect(feed.count).toBe(5); // a socket welcomed now is told 5, as every watcher was
    feed.push(change('u9', 'online'));
    await vi.advanceTimersByTimeAsync(COUNT_EVERY_MS + 300);
    expect(all().filter((m) => m.type === 'presence_count').map((m) => m.onlineCount)).toEqual([4, 5]); // back at 5: no frame after it
    expect(feed.count).toBe(5);
    feed.close();
  });

  it('replays nothing to a `*` watcher welcomed while counting, the watched changes to a list watcher', async () => {
    const { fanout } = recorder();
    const feed = feedOf(fanout, { count: async () => 10 });
    await feed.start();
    await window(feed, change('u1', 'offline'));
    const got: string[] = [];
    const conn = (watching: Connection['watching']) => ({ watching, socket: { isOpen: () => true, send: (t: string) => got.push(t) } }) as unknown as Connection;
    feed.replaySince(conn('*'), { seq: 0 });
    expect(got).toEqual([]);
    feed.replaySince(conn(new Set(['u1'])), { seq: 0 });
    expect(got.map((t) => JSON.parse(t).changes[0].userId)).toEqual(['u1']);
    feed.close();
  });
});
