/**
 * Reconnect delays: exponential backoff with FULL jitter.
 *   delay(attempt) = random() * min(capMs, baseMs * 2^attempt)   with random() in [0, 1)
 * so every delay lies in [0, ceiling(attempt)) and a crowd of clients dropped at once
 * spreads its reconnects over the whole window instead of arriving in waves.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

/** 0.5 s doubling to 20 s, as centrifuge-js: a node's death spreads its clients' returns over seconds. */
export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 20_000 };

/** The upper bound of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(policy: BackoffPolicy, attempt: number): number {
  // 2^attempt is capped first so a long outage never overflows to Infinity.
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(attempt, 0), 32));
}

/** A delay in [0, backoffCeiling(policy, attempt)]; `random` returns values in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  return Math.floor(random() * backoffCeiling(policy, attempt));
}
