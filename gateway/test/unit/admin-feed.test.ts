/**
 * Unit: the operator feed's bounds hold for feeds asked for at the same time: each request reads
 * the cluster (a few store round trips) before its stream opens, so a check made only before
 * that read let every one of them through.
 */
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { AdminFeed, type AdminFeedDeps } from '../../src/api/admin-feed.js';
import type { EventStream } from '../../src/transport/sse.js';
import { isStream } from '../../src/transport/sse.js';

const slow = <T>(value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), 20));

function deps(): AdminFeedDeps {
  return {
    auth: { operator: async () => ({ key: 'session-1' }), session: async () => undefined } as unknown as AdminFeedDeps['auth'],
    stats: { latest: () => [], series: () => ({}), intervalMs: 2000 },
    presence: { nodes: () => slow([]), onlineCount: () => slow(0) },
    events: { range: async () => [], tail: async () => [] },
    nodeId: 'n1',
    log: pino({ level: 'silent' }),
  };
}

function stream(): EventStream & { ended: boolean } {
  const s = {
    ended: false,
    get open() { return !s.ended; },
    send: () => !s.ended,
    end: () => void (s.ended = true),
    onClose: () => {},
  };
  return s;
}

it('opens at most 4 feeds for one session when 40 are asked for at once', async () => {
  const feed = new AdminFeed(deps());
  const request = { query: '', header: () => '', ip: '127.0.0.1', param: () => '' };
  const replies = await Promise.all(Array.from({ length: 40 }, () => feed.route(request)));
  const streams = replies.filter(isStream).map((r) => {
    const s = stream();
    r.stream(s);
    return s;
  });
  try {
    expect(streams.filter((s) => !s.ended)).toHaveLength(4);
  } finally {
    feed.close();
  }
});
