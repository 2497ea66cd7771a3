/** Unit: per-key token buckets (pure logic, explicit clock): the limit holds, and refilled keys do not pile up. */
import { describe, expect, it } from 'vitest';
import { KeyedLimiter, SWEEP_EVERY } from '../../src/limits/buckets.js';

describe('KeyedLimiter', () => {
  it('refuses a key past its burst until it refills, without touching other keys', () => {
    const limiter = new KeyedLimiter(1, 2);
    expect([limiter.take('a', 0), limiter.take('a', 0), limiter.take('a', 0)]).toEqual([true, true, false]);
    expect(limiter.take('b', 0)).toBe(true);
    expect(limiter.take('a', 999)).toBe(false);
    expect(limiter.take('a', 1000)).toBe(true);
  });

  it('forgets keys whose buckets refilled, and keeps the ones still draining', () => {
    const limiter = new KeyedLimiter(5, 20);
    for (let i = 0; i < SWEEP_EVERY * 4; i += 1) limiter.take(`once${i}`, 0);
    for (let i = 0; i < 20; i += 1) limiter.take('busy', 0); // empty: 4 s to refill
    // One second later the one-time keys are full again (0.2 s); more takes sweep them away.
    for (let i = 0; i < SWEEP_EVERY * 5; i += 1) limiter.take(`later${i % 10}`, 1000);
    expect(limiter.size).toBeLessThan(SWEEP_EVERY);
    expect(limiter.take('busy', 1000)).toBe(true); // 5 tokens refilled of 20: still tracked
    for (let i = 0; i < 4; i += 1) limiter.take('busy', 1000);
    expect(limiter.take('busy', 1000)).toBe(false);
  });

  it('prunes every refilled bucket in one pass, and keeps the draining ones and their debt', () => {
    const limiter = new KeyedLimiter(10, 10);
    for (let i = 0; i < 100; i += 1) limiter.take(`idle${i}`, 0);
    for (let i = 0; i < 10; i += 1) limiter.take('busy', 0);
    limiter.prune(500); // the idle ones refilled in 0.1 s; busy holds 5 of 10
    expect(limiter.size).toBe(1);
    for (let i = 0; i < 5; i += 1) expect(limiter.take('busy', 500)).toBe(true);
    expect(limiter.take('busy', 500)).toBe(false);
  });

  it('weighs a take by its cost, and takes a cost above the burst from a full bucket', () => {
    const limiter = new KeyedLimiter(10, 30);
    expect(limiter.take('a', 0, 27)).toBe(true);
    expect(limiter.take('a', 0, 27)).toBe(false);
    expect(limiter.take('a', 2700, 27)).toBe(true);
    expect(limiter.take('b', 0, 100)).toBe(true); // a frame costing more than the burst empties a full bucket
    expect(limiter.take('b', 0, 1)).toBe(false);
  });
});
