/**
 * A log-bucketed latency histogram (1% resolution, microsecond floor) that agents fill and
 * the orchestrator merges; small enough to cross an IPC channel as [bucket, count] pairs.
 */
const GROWTH = Math.log(1.01);
const BUCKETS = 2400; // 1 µs * 1.01^2400 ≈ 23,000 s

export interface HistogramData {
  buckets: [number, number][];
  count: number;
  sum: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  sum = 0;
  max = 0;

  /** Record one value in milliseconds; negatives (clock jitter) count as zero. */
  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    const us = v * 1000;
    const i = us < 1 ? 0 : Math.min(BUCKETS - 1, 1 + Math.floor(Math.log(us) / GROWTH));
    this.counts[i] += 1;
    this.count += 1;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  toJSON(): HistogramData {
    const buckets: [number, number][] = [];
    this.counts.forEach((c, i) => {
      if (c > 0) buckets.push([i, c]);
    });
    return { buckets, count: this.count, sum: this.sum, max: this.max };
  }

  merge(data: HistogramData): this {
    for (const [i, c] of data.buckets) this.counts[i] += c;
    this.count += data.count;
    this.sum += data.sum;
    this.max = Math.max(this.max, data.max);
    return this;
  }

  /** The value at quantile `q` (0..1), in ms: the upper edge of its bucket, capped at the max seen. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i += 1) {
      seen += this.counts[i];
      if (seen >= rank) return Math.min(this.max, i === 0 ? 0.001 : Math.exp(i * GROWTH) / 1000);
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? NaN : this.sum / this.count;
  }
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The median of `xs` (the mean of the two middle values for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The value at share `p` (0 to 1) of `xs` in ascending order (the rank p x n, rounded down); NaN for none. */
export function percentile(xs: readonly number[], p: number): number {
  return [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] ?? NaN;
}
