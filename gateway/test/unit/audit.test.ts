/**
 * The presence drift audit loop: runs on a jittered interval, reports and counts what the
 * store repaired, never throws. On the memory twin with fake timers (the same loop against a
 * real redis-server: contract/audit.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startPresenceAudit } from '../../src/node/audit.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import type { DriftRepair } from '../../src/presence/types.js';
import { driftCounter, fakeLog } from '../harness/audit.js';

const EMPTY = { users: new Map(), memberships: new Map() };

/** The jitter's midpoint: every interval is exactly `intervalMs`, so counts under fake timers are exact. */
const NO_JITTER = () => 0.5;

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
    const stop = startPresenceAudit(store, { intervalMs: 1000, log, metrics, random: NO_JITTER });
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

  it('waits intervalMs × (0.8 + 0.4 × random()) before each audit', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const audit = vi.fn(async () => [] as DriftRepair[]);
    const draws = [0, 0.75, 0.25];
    const stop = startPresenceAudit({ audit }, { intervalMs: 1000, log: fakeLog(), random: () => draws.shift() ?? 0.5 });
    // Audits due at 800 (0.8 s), 1900 (+1.1 s) and 2800 (+0.9 s): checked 1 ms either side.
    let now = 0;
    for (const [at, calls] of [[799, 0], [801, 1], [1899, 1], [1901, 2], [2799, 2], [2801, 3]]) {
      await vi.advanceTimersByTimeAsync(at - now);
      now = at;
      expect(audit, `at ${at} ms`).toHaveBeenCalledTimes(calls);
    }
    stop();
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
    const stop = startPresenceAudit({ audit }, { intervalMs: 100, log, metrics, random: NO_JITTER });
    await vi.advanceTimersByTimeAsync(3 * 120);
    expect(audit).toHaveBeenCalledTimes(3);
    expect(log.debug).toHaveBeenCalledTimes(2);
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(await value()).toBe(1);
    stop();
  });
});
