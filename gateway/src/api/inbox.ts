/**
 * Publishing from a backend that already speaks Redis: `XADD <prefix>publish:in * action <name>
 * data <json>` (add `MAXLEN ~ 100000` to bound it), read through the inbox store
 * (inbox/redis.ts), so each entry is published exactly once by one node, with the same
 * stamping, history and fan-out as POST /api/publish.
 *
 * Delivery: at-least-once from the stream to the gateways (an entry is acknowledged after its
 * publish; entries left pending by a node that died are claimed by another after 30 s), then
 * at-most-once to sockets like every action message. Entries that cannot be parsed are logged
 * and acknowledged (dropped).
 */
import type { InboxEntry, PublishInbox } from '../inbox/types.js';
import type { Logger } from '../log.js';
import type { Publish } from '../node/publisher.js';
import { parsePublishBody } from './publish.js';

const CLAIM_IDLE_MS = 30_000;
const BATCH = 100;
const BLOCK_MS = 1000;

/** Reads `inbox` until the returned stop is called; a read that fails is retried after a second. */
export function startInbox(inbox: PublishInbox, publish: Publish, log: Logger): () => void {
  let stopped = false;

  async function handle(entries: InboxEntry[]): Promise<void> {
    for (const { id, fields } of entries) {
      let data: unknown;
      try {
        data = JSON.parse(fields.data ?? '');
      } catch {
        data = undefined;
      }
      const parsed = parsePublishBody({ action: fields.action, data });
      if (!parsed.ok) log.warn({ id, reason: parsed.message }, 'inbox entry dropped');
      else await publish({ action: parsed.messages[0].action, from: { system: true }, data: parsed.messages[0].data });
      await inbox.ack(id);
    }
  }

  async function loop(): Promise<void> {
    let lastClaim = 0;
    while (!stopped) {
      try {
        if (Date.now() - lastClaim > CLAIM_IDLE_MS) {
          lastClaim = Date.now();
          await handle(await inbox.claim(CLAIM_IDLE_MS, BATCH));
        }
        await handle(await inbox.read(BATCH, BLOCK_MS));
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
