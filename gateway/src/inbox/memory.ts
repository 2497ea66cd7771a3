/** The inbox's memory twin (tests, one node): entries added with `add`, each handed out once until acknowledged. */
import type { InboxEntry, PublishInbox } from './types.js';

export class MemoryInbox implements PublishInbox {
  private readonly waiting: InboxEntry[] = [];
  private readonly pending = new Map<string, { entry: InboxEntry; at: number }>();
  private counter = 0;
  private wake: (() => void) | undefined;

  /** What a backend's XADD does. */
  add(fields: Record<string, string>): string {
    const id = `${Date.now()}-${(this.counter += 1)}`;
    this.waiting.push({ id, fields });
    this.wake?.();
    return id;
  }

  async read(count: number, blockMs: number): Promise<InboxEntry[]> {
    if (this.waiting.length === 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, blockMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const taken = this.waiting.splice(0, count);
    for (const entry of taken) this.pending.set(entry.id, { entry, at: Date.now() });
    return taken;
  }

  async claim(idleMs: number, count: number): Promise<InboxEntry[]> {
    const now = Date.now();
    const idle = [...this.pending.values()].filter((p) => now - p.at >= idleMs).slice(0, count);
    for (const p of idle) p.at = now;
    return idle.map((p) => p.entry);
  }

  async ack(id: string): Promise<void> {
    this.pending.delete(id);
  }

  /** Entries handed out and not acknowledged (tests). */
  get unacked(): number {
    return this.pending.size;
  }
}
