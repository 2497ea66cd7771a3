/**
 * The publish inbox: a stream a backend that already speaks Redis appends to
 * (`XADD <prefix>publish:in * action <name> data <json>`), read by the gateways as one consumer
 * group, so each entry is taken by one node.
 *
 * Contract: at-least-once. `read` hands out entries no node took yet; an entry stays pending
 * until `ack`; `claim` takes over entries another consumer (a node that died) left pending for
 * longer than `idleMs`. Entries are raw field maps: the caller parses them (api/inbox.ts).
 */
export interface InboxEntry { id: string; fields: Record<string, string> }

export interface PublishInbox {
  /** Up to `count` new entries, waiting at most `blockMs` for one. */
  read(count: number, blockMs: number): Promise<InboxEntry[]>;
  /** Up to `count` entries pending with any consumer for at least `idleMs`, now this node's. */
  claim(idleMs: number, count: number): Promise<InboxEntry[]>;
  ack(id: string): Promise<void>;
}
