/**
 * Presence drift is measured, not assumed: every `intervalMs` (jittered ±20% so nodes
 * spread out) this node asks the store to audit its counters and online set against the
 * registered nodes' accounts. Whatever the audit repaired is logged as a warning and
 * counted in `gateway_presence_drift_repaired_total`; a healthy cluster logs nothing.
 *
 * Every node may run it: the audit is one atomic script, so concurrent audits find
 * nothing left to repair. Its cost is O(online users + account entries) per run.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { PresenceStore } from '../presence/types.js';

export interface PresenceAuditOptions {
  /** Mean time between audits; 0 turns the audit off. */
  intervalMs: number;
  log: Pick<Logger, 'warn' | 'debug'>;
  metrics?: Pick<Metrics, 'presenceDrift'>;
  /** Source of the interval's jitter, uniform in [0, 1); Math.random unless a test scripts it. */
  random?: () => number;
}

/** Most repaired entries written to one log line (the count is always logged in full). */
const LOGGED_ENTRIES = 50;

/**
 * Starts the periodic audit; returns a function that stops it (an audit in flight still
 * completes, but nothing is scheduled after it). Never throws and never rejects: a failed
 * audit (store unreachable) is logged at debug and the next one runs on schedule.
 */
export function startPresenceAudit(store: Pick<PresenceStore, 'audit'>, opts: PresenceAuditOptions): () => void {
  const { intervalMs, log, metrics, random = Math.random } = opts;
  if (!(intervalMs > 0)) return () => {};
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const once = async (): Promise<void> => {
    try {
      const repaired = await store.audit();
      if (repaired.length === 0) return;
      metrics?.presenceDrift.inc(repaired.length);
      log.warn({ drift: repaired.length, repaired: repaired.slice(0, LOGGED_ENTRIES) }, 'presence drift repaired');
    } catch (err) {
      log.debug({ err }, 'presence audit failed; next one on schedule');
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void once().finally(schedule), intervalMs * (0.8 + 0.4 * random()));
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
