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
});
