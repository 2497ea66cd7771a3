/**
 * Token buckets per key (IP, username, connection): `ratePerSec` refill, `burst` capacity.
 * Memory is bounded: past `maxKeys` the oldest keys are forgotten (a forgotten key starts full,
 * which errs on the side of letting a request through rather than growing without bound).
 */
export class KeyedLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly ratePerSec: number, private readonly burst: number, private readonly maxKeys = 100_000) {}

  /** True when `key` has a token left, without taking it. */
  available(key: string, now = Date.now()): boolean {
    const b = this.buckets.get(key);
    if (!b) return true;
    return Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSec) >= 1;
  }

  /** Take one token for `key`; false when the bucket is empty. */
  take(key: string, now = Date.now()): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.ratePerSec);
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
