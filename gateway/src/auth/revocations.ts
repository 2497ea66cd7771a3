/**
 * Tokens revoked by the server API: `POST /api/disconnect` (unless `"revoke": false`) refuses
 * every token of that user issued at or before that second. A record lasts TOKEN_MAX_TTL_S:
 * no older token is accepted anyway.
 *
 * Every node keeps the records in memory, so the check costs no round trip on the upgrade or
 * an HTTP request. Records reach a node three ways: the node that takes the API call writes
 * them to the store first, then every node receives the disconnect command (node/control.ts);
 * a node that missed it (its Redis connection was away) reloads the store when it is back,
 * and every node loads it at start.
 */
import type { RevocationStore } from '../revocations/types.js';


/** This node's copy of the records, and the check every authenticated path makes. */
export class Revocations {
  private records = new Map<string, number>();

  constructor(private readonly store: RevocationStore, private readonly ttlS: number, private readonly now = () => Math.floor(Date.now() / 1000)) {}

  /** True when a token of `userId` issued at `iatS` was revoked. */
  revoked(userId: string, iatS: number): boolean {
    const at = this.records.get(userId);
    return at !== undefined && iatS <= at;
  }

  /** Revoke now, cluster-wide (the store), and on this node; returns the revocation second. */
  async revoke(userId: string): Promise<number> {
    const at = this.now();
    await this.store.add(userId, at, this.ttlS);
    this.note(userId, at);
    return at;
  }

  /** A revocation made by another node (its disconnect command). */
  note(userId: string, atS: number): void {
    if ((this.records.get(userId) ?? -1) < atS) this.records.set(userId, atS);
  }

  /** Replace the copy with the store's records (at start, and after the node was away from it). */
  async reload(): Promise<void> {
    const loaded = await this.store.load(this.now(), this.ttlS);
    for (const [u, at] of this.records) if (at + this.ttlS >= this.now() && (loaded.get(u) ?? -1) < at) loaded.set(u, at);
    this.records = loaded;
  }
}
