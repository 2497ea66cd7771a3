/**
 * Publishing from a backend that already speaks Redis: `XADD <prefix>publish:in * action <name>
 * data <json>` (add `MAXLEN ~ 100000` to bound it). Gateways read the stream as one consumer
 * group (`gateways`), so each entry is published exactly once by one node, with the same
 * stamping, history and fan-out as POST /api/publish.
 *
 * Delivery: at-least-once from the stream to the gateways (an entry is acknowledged after its
 * publish; entries left pending by a node that died are claimed by another after 30 s), then
 * at-most-once to sockets like every action message. Entries that cannot be parsed are logged
 * and acknowledged (dropped).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { parsePublishBody } from './publish.js';
import type { Publish } from '../node/publisher.js';

const GROUP = 'gateways';
const CLAIM_IDLE_MS = 30_000;

type Entries = Array<[id: string, fields: string[]]>;

export function startInbox(redis: Redis, prefix: string, nodeId: string, publish: Publish, log: Logger): () => void {
  const key = `${prefix}publish:in`;
  let stopped = false;

  const ensureGroup = () => redis.xgroup('CREATE', key, GROUP, '$', 'MKSTREAM').catch((err: Error) => {
    if (!/BUSYGROUP/.test(err.message)) throw err;
  });

  async function handle(entries: Entries): Promise<void> {
    for (const [id, fields] of entries) {
      const field = (n: string) => fields[fields.indexOf(n) + 1];
      let data: unknown;
      try {
        data = JSON.parse(field('data') ?? '');
      } catch {
        data = undefined;
      }
      const parsed = parsePublishBody({ action: field('action'), data });
      if (!parsed.ok) log.warn({ id, reason: parsed.message }, 'inbox entry dropped');
      else await publish({ action: parsed.messages[0].action, from: { system: true }, data: parsed.messages[0].data });
      await redis.xack(key, GROUP, id);
    }
  }

  async function loop(): Promise<void> {
    let lastClaim = 0;
    while (!stopped) {
      try {
        await ensureGroup();
        if (Date.now() - lastClaim > CLAIM_IDLE_MS) {
          lastClaim = Date.now();
          const claimed = (await redis.xautoclaim(key, GROUP, nodeId, CLAIM_IDLE_MS, '0', 'COUNT', 100)) as [string, Entries];
          await handle(claimed[1]);
        }
        const res = (await redis.xreadgroup('GROUP', GROUP, nodeId, 'COUNT', 100, 'BLOCK', 1000, 'STREAMS', key, '>')) as
          Array<[string, Entries]> | null;
        if (res) await handle(res[0][1]);
      } catch (err) {
        if (stopped) return;
        log.debug({ err: (err as Error).message }, 'inbox read failed; retrying');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  void loop();
  return () => {
    stopped = true;
  };
}
