/**
 * The memory twin of RedisHistoryStore for the embedded single-node mode: the same offsets
 * (`<ms>-<seq>`), trimming and recovery rules. `deliver` plays the part of the Redis publish
 * that reaches every node, this one included.
 */
import { compareOffsets, frameOf, type HistoryPolicy, type HistoryStore, type StoredMessage } from './types.js';

interface Kept { offset: string; at: number; message: StoredMessage }

export class MemoryHistoryStore implements HistoryStore {
  private readonly streams = new Map<string, Kept[]>();
  private lastMs = 0;
  private seq = 0;

  constructor(private readonly deliver: (action: string, frame: string) => void, private readonly now = Date.now) {}

  private nextOffset(): string {
    const ms = this.now();
    if (ms > this.lastMs) {
      this.lastMs = ms;
      this.seq = 0;
    } else this.seq += 1;
    return `${this.lastMs}-${this.seq}`;
  }

  async publish(action: string, policy: HistoryPolicy, head: string, ts: number): Promise<StoredMessage> {
    const offset = this.nextOffset();
    const message = { offset, frame: frameOf(head, offset, ts) };
    const list = this.streams.get(action) ?? [];
    list.push({ offset, at: this.now(), message });
    const minAt = this.now() - policy.ageMs;
    while (list.length > policy.count || (list.length > 0 && list[0].at < minAt)) list.shift();
    this.streams.set(action, list);
    this.deliver(action, message.frame);
    return message;
  }

  async since(action: string, offset: string, limit: number): Promise<{ recovered: boolean; messages: StoredMessage[] }> {
    const list = this.streams.get(action) ?? [];
    if (!list.some((k) => k.offset === offset)) return { recovered: false, messages: [] };
    return { recovered: true, messages: list.filter((k) => compareOffsets(k.offset, offset) > 0).slice(0, limit).map((k) => k.message) };
  }

  async last(action: string, n: number): Promise<StoredMessage[]> {
    return (this.streams.get(action) ?? []).slice(-n).map((k) => k.message);
  }
}
