/**
 * Every node's figures for the operator page (node/stats.ts): a node samples itself (rates from
 * its metrics), keeps its own and the others' samples of the last minutes, bounded, stamped on
 * arrival, and forgets a node it stopped hearing from. A fake bus and a controlled clock.
 */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import type { NodeSample } from '../../src/node/cluster-messages.js';
import { NodeStats } from '../../src/node/stats.js';

function setup(keepMs = 60_000) {
  let now = 1_000_000;
  const sent: NodeSample[] = [];
  let hear: (s: NodeSample) => void = () => {};
  const hub = {
    size: 3, users: () => 2,
    onSystem: async (_topic: string, handler: (s: NodeSample) => void) => void (hear = handler),
    toNodes: async (_topic: string, s: NodeSample) => void sent.push(s),
  };
  const metrics = createMetrics('a');
  const stats = new NodeStats({ hub: hub as never, metrics, nodeId: 'a', log: createLogger('silent', 'a'), intervalMs: 2000, keepMs, now: () => now });
  const other = (node: string, connections: number): NodeSample =>
    ({ node, at: 0, connections, users: 1, rssBytes: 1, heapBytes: 1, inPerS: 0, outPerS: 0 });
  return { stats, sent, metrics, hear: (s: NodeSample) => hear(s), other, advance: (ms: number) => (now += ms), now: () => now };
}

describe('node stats', () => {
  it('samples this node: connections, users, memory, and frames in and messages out per second from its counters', async () => {
    const s = setup();
    await s.stats.start();
    s.stats.stop();
    s.metrics.messagesIn.inc(10);
    s.metrics.messagesOut.inc({ source: 'local' }, 3);
    s.metrics.messagesOut.inc({ source: 'remote' }, 1);
    s.advance(2000);
    await s.stats.tick();
    const mine = s.stats.latest().find((x) => x.node === 'a')!;
    expect(mine).toMatchObject({ connections: 3, users: 2, inPerS: 5, outPerS: 2 });
    expect(mine.rssBytes).toBeGreaterThan(0);
    expect(s.sent.at(-1)).toMatchObject({ node: 'a', inPerS: 5 });
  });

  it('keeps every node it hears, stamped with its own clock, and forgets samples and nodes older than keepMs', async () => {
    const s = setup(10_000);
    await s.stats.start();
    s.stats.stop();
    s.hear({ ...s.other('b', 7), at: 42 });
    expect(s.stats.latest().find((x) => x.node === 'b')).toMatchObject({ connections: 7, at: s.now() });
    s.advance(6000);
    s.hear(s.other('b', 8));
    expect(Object.keys(s.stats.series()).sort()).toEqual(['a', 'b']);
    expect(s.stats.series().b.map((x) => x.connections)).toEqual([7, 8]);
    s.advance(6000);
    expect(s.stats.series().b.map((x) => x.connections)).toEqual([8]);
    s.advance(6000);
    expect(Object.keys(s.stats.series())).toEqual([]);
  });

  it('holds at most about keepMs / intervalMs samples per node, however fast they come', async () => {
    const s = setup(10_000);
    await s.stats.start();
    s.stats.stop();
    for (let i = 0; i < 1000; i += 1) s.hear(s.other('chatty', i));
    expect(s.stats.series().chatty.length).toBeLessThanOrEqual(10_000 / 2000 + 5);
    expect(s.stats.latest().find((x) => x.node === 'chatty')?.connections).toBe(999);
  });
});
