/** What an audit test needs to watch the audit loop: a recording log and a drift counter it can read. */
import { Counter } from 'prom-client';
import { vi } from 'vitest';

export function fakeLog() {
  return { warn: vi.fn(), debug: vi.fn() };
}

export function driftCounter() {
  const presenceDrift = new Counter({ name: 'drift_test_total', help: 'test', registers: [] });
  const value = async () => (await presenceDrift.get()).values[0]?.value ?? 0;
  return { metrics: { presenceDrift }, value };
}
