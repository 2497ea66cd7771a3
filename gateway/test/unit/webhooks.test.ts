/**
 * The webhook dispatcher against a real HTTP receiver and the memory event log: order,
 * signatures, retries, the filter and gap markers. (Across nodes and crashes, on Redis:
 * integration/server-api.test.ts.)
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../../src/events/memory.js';
import { compareOffsets } from '../../../shared/offsets.js';
import { sign, verify } from '../../src/events/signature.js';
import { WebhookDispatcher } from '../../src/events/webhooks.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { startReceiver, type Receiver } from '../harness/webhook.js';
import { waitFor } from '../harness/wait.js';

const SECRET = 'webhook-secret-webhook-secret-0123456789';
const open: Array<{ stop(): Promise<void> } | Receiver> = [];

afterEach(async () => {
  for (const x of open.splice(0).reverse()) await ('close' in x ? x.close() : x.stop());
});

async function setup(opts: { maxLen?: number; types?: string[]; start?: boolean } = {}) {
  const backend = createMemoryPresenceBackend({ eventsMaxLen: opts.maxLen ?? 10_000 });
  const store = new MemoryPresenceStore(backend, 'n1', { leaseMs: 60_000 });
  await store.start();
  await store.sync({ users: new Map(), memberships: new Map() });
  const receiver = await startReceiver(SECRET);
  open.push(receiver);
  const metrics = createMetrics('n1');
  const dispatcher = new WebhookDispatcher({
    events: new MemoryEventLog(backend), url: receiver.url, secret: SECRET, batch: 50, timeoutMs: 1000,
    types: opts.types && new Set(opts.types), log: createLogger('silent', 'n1'), metrics, pollMs: 10, backoffMs: 20, maxBackoffMs: 100,
  });
  const start = () => {
    dispatcher.start();
    open.push(dispatcher);
  };
  if (opts.start !== false) start();
  return { store, backend, receiver, metrics, start };
}

const value = async (m: { get(): Promise<{ values: Array<{ value: number }> }> }) => (await m.get()).values.reduce((s, v) => s + v.value, 0);

describe('signatures', () => {
  it('verify accepts its own signature and refuses a changed body, another secret or an old timestamp', () => {
    const body = '{"events":[]}';
    const now = 1_800_000_000;
    const header = sign(SECRET, body, now);
    expect(header).toMatch(/^t=1800000000,v1=[0-9a-f]{64}$/);
    expect(verify(SECRET, body, header, 300, now + 10)).toBe(true);
    expect(verify(SECRET, `${body} `, header, 300, now)).toBe(false);
    expect(verify(`${SECRET}x`, body, header, 300, now)).toBe(false);
    expect(verify(SECRET, body, header, 300, now + 301)).toBe(false);
    expect(verify(SECRET, body, 'garbage', 300, now)).toBe(false);
  });
});

describe('WebhookDispatcher', () => {
  it('delivers every event in stream order, signed, and again after failures until a 2xx', async () => {
    const { store, backend, receiver, metrics } = await setup();
    receiver.failNext(3);
    for (let i = 0; i < 120; i++) await store.connect(`u${i}`, `n${i}`, 0);
    await store.join('room', 'c1', 'u1', 'n1');
    await waitFor('all events delivered', () => receiver.ids().size === backend.events.length, 10_000);
    expect(receiver.badSignatures).toBe(0);
    const firsts = [...new Map(receiver.items.map((i) => [i.id, i])).values()];
    expect(firsts.map((i) => i.id)).toEqual(backend.events.map((e) => e.id));
    expect(firsts.at(-1)).toMatchObject({ type: 'joined', userId: 'u1', action: 'room', node: 'n1', reason: 'join' });
    expect(await value(metrics.webhookRetried)).toBe(3);
    // The receiver records a batch before its 204 reaches the dispatcher, which counts it after.
    await waitFor('the last batch counted', async () => (await value(metrics.webhookDelivered)) === backend.events.length);
  });

  it('sends only the configured types, and acknowledges the others without a request', async () => {
    const { store, receiver } = await setup({ types: ['offline'] });
    await store.connect('a', 'a', 0);
    await store.disconnect('a', 'a', 'c', []);
    await waitFor('offline delivered', () => receiver.items.length === 1);
    expect(receiver.items[0]).toMatchObject({ type: 'offline', userId: 'a', reason: 'disconnect' });
  });

  it('marks entries trimmed while the receiver was away with one gap item before the rest', async () => {
    const { store, receiver, start } = await setup({ maxLen: 5, start: false });
    for (let i = 0; i < 12; i++) await store.connect(`u${i}`, `n${i}`, 0);
    start();
    await waitFor('delivered', () => receiver.items.length === 6);
    const [gap, ...events] = receiver.items;
    expect(gap).toMatchObject({ type: 'gap', reason: 'trimmed' });
    expect(events.map((e) => e.userId)).toEqual(['u7', 'u8', 'u9', 'u10', 'u11']);
    expect(compareOffsets(gap.through, events[0].id)).toBeLessThan(0);
  });
});
