/**
 * The inbox on a Redis stream `P publish:in`, read by the consumer group `gateways` with one
 * consumer per node (its node id). The group is created on first use (and again if the stream
 * was deleted, or Redis came back empty), starting at the stream's end.
 */
import type { Redis } from 'ioredis';
import type { InboxEntry, PublishInbox } from './types.js';

const GROUP = 'gateways';

type Entries = Array<[id: string, fields: string[]]>;

function entriesOf(raw: Entries): InboxEntry[] {
  return raw.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] ??= flat[i + 1];
    return { id, fields };
  });
}

export class RedisInbox implements PublishInbox {
  private readonly key: string;

  /** `redis` is a dedicated connection: `read` blocks it. */
  constructor(private readonly redis: Redis, prefix: string, private readonly consumer: string) {
    this.key = `${prefix}publish:in`;
  }

  private async ensureGroup(): Promise<void> {
    await this.redis.xgroup('CREATE', this.key, GROUP, '$', 'MKSTREAM').catch((err: Error) => {
      if (!/BUSYGROUP/.test(err.message)) throw err;
    });
  }

  async read(count: number, blockMs: number): Promise<InboxEntry[]> {
    await this.ensureGroup();
    const res = (await this.redis.xreadgroup('GROUP', GROUP, this.consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', this.key, '>')) as
      Array<[string, Entries]> | null;
    return res ? entriesOf(res[0][1]) : [];
  }

  async claim(idleMs: number, count: number): Promise<InboxEntry[]> {
    await this.ensureGroup();
    const claimed = (await this.redis.xautoclaim(this.key, GROUP, this.consumer, idleMs, '0', 'COUNT', count)) as [string, Entries];
    return entriesOf(claimed[1]);
  }

  async ack(id: string): Promise<void> {
    await this.redis.xack(this.key, GROUP, id);
  }
}
