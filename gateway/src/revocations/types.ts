/**
 * Where the server API's token revocations are kept for the whole cluster (auth/revocations.ts
 * keeps each node's copy and makes the check). A record lasts TOKEN_MAX_TTL_S: no older token is
 * accepted anyway.
 */
export interface RevocationStore {
  /** Record that `userId`'s tokens issued at or before `atS` are refused until `atS + ttlS`. */
  add(userId: string, atS: number, ttlS: number): Promise<void>;
  /** Every record still in force: userId -> atS. */
  load(nowS: number, ttlS: number): Promise<Map<string, number>>;
}
