/**
 * Token buckets in process memory: the per-connection frame limit, failed upgrades per
 * address, and the memory twin of the shared limits (shared.ts).
 */
export interface Bucket { tokens: number; at: number }

/** The tokens `b` holds at `now`: what it had, refilled at `ratePerSec`, capped at `burst`. */
export function tokensAt(b: Bucket, ratePerSec: number, burst: number, now: number): number {
  return Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSec);
}

/**
 * Refill `b` up to `now` and take `cost` tokens (a heavier request costs more); false, nothing
 * taken, when it holds fewer. A cost above `burst` is taken once the bucket is full.
 */
export function takeToken(b: Bucket, ratePerSec: number, burst: number, now: number, cost = 1): boolean {
  b.tokens = tokensAt(b, ratePerSec, burst, now);
  b.at = now;
  const need = Math.min(cost, burst);
  if (b.tokens < need) return false;
  b.tokens -= need;
  return true;
}

/**
 * Token buckets per key (IP, username, connection): `ratePerSec` refill, `burst` capacity.
 * Memory is bounded: past `maxKeys` the oldest keys are forgotten (a forgotten key starts full,
 * which errs on the side of letting a request through rather than growing without bound).
 * A bucket that has refilled is the same as none: every SWEEP_EVERY takes, the SWEEP_EVERY
 * oldest keys are looked at and the full ones dropped, so keys of users who connected once do
 * not stay for the life of the process (about 80 bytes each).
 */
export const SWEEP_EVERY = 256;

export class KeyedLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private takes = 0;

  constructor(private readonly ratePerSec: number, private readonly burst: number, private readonly maxKeys = 100_000) {}

  /** True when `key` has a token left, without taking it. */
  available(key: string, now = Date.now()): boolean {
    const b = this.buckets.get(key);
    if (!b) return true;
    return tokensAt(b, this.ratePerSec, this.burst, now) >= 1;
  }

  /** Forget `key`: its bucket starts full again. */
  forget(key: string): void {
    this.buckets.delete(key);
  }

  /** Take `cost` tokens for `key`; false when the bucket holds fewer. */
  take(key: string, now = Date.now(), cost = 1): boolean {
    if (++this.takes % SWEEP_EVERY === 0) this.sweep(now);
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
      b = { tokens: this.burst, at: now };
      this.buckets.set(key, b);
    }
    return takeToken(b, this.ratePerSec, this.burst, now, cost);
  }

  /** Drop every bucket that has refilled (it is the same as none): O(keys), for a periodic pass. */
  prune(now = Date.now()): void {
    for (const [key, b] of this.buckets) if (tokensAt(b, this.ratePerSec, this.burst, now) >= this.burst) this.buckets.delete(key);
  }

  /** Drop full buckets among the oldest SWEEP_EVERY keys (Map order); the rest go to the back, so the next sweep looks further. */
  private sweep(now: number): void {
    const oldest: Array<[string, Bucket]> = [];
    for (const entry of this.buckets) {
      if (oldest.length === SWEEP_EVERY) break;
      oldest.push(entry);
    }
    for (const [key, b] of oldest) {
      this.buckets.delete(key);
      if (tokensAt(b, this.ratePerSec, this.burst, now) < this.burst) this.buckets.set(key, b);
    }
  }

  /** Keys held (for tests). */
  get size(): number {
    return this.buckets.size;
  }
}
