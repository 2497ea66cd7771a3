/** The shared limits' memory twin: one node, buckets in process. */
import { KeyedLimiter } from './buckets.js';
import type { Rule, SharedLimits } from './types.js';

export class MemorySharedLimits implements SharedLimits {
  private readonly buckets = new Map<string, KeyedLimiter>();

  private of(rule: Rule): KeyedLimiter {
    let b = this.buckets.get(rule.name);
    if (!b) this.buckets.set(rule.name, (b = new KeyedLimiter(rule.ratePerSec, rule.burst)));
    return b;
  }

  async take(rule: Rule, key: string): Promise<boolean> {
    return this.of(rule).take(key);
  }

  async peek(rule: Rule, key: string): Promise<boolean> {
    return this.of(rule).available(key);
  }

  async reset(rule: Rule, key: string): Promise<void> {
    this.of(rule).forget(key);
  }
}
