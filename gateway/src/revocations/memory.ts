import type { RevocationStore } from './types.js';

/** The memory twin (one node). */
export class MemoryRevocationStore implements RevocationStore {
  private readonly records = new Map<string, number>();

  async add(userId: string, atS: number): Promise<void> {
    this.records.set(userId, Math.max(atS, this.records.get(userId) ?? 0));
  }

  async load(nowS: number, ttlS: number): Promise<Map<string, number>> {
    for (const [u, at] of this.records) if (at + ttlS < nowS) this.records.delete(u);
    return new Map(this.records);
  }
}
