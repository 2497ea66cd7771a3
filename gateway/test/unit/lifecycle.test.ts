/**
 * Unit: the socket lifecycle's drain against a connection whose admission was still in flight
 * when the drain took its list (pure logic on the memory twins; pm2 reloads cover it end to end).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createMemoryBus, MemoryBroker } from '../../src/broker/memory.js';
import type { Config } from '../../src/config.js';
import type { LocalFanout } from '../../src/connection.js';
import { HistoryFeeds } from '../../src/history/feeds.js';
import { createMetrics } from '../../src/metrics.js';
import { Hub } from '../../src/node/hub.js';
import { PresenceFeed } from '../../src/node/presence-feed.js';
import { RoomFeed } from '../../src/node/rooms.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import type { createAdmission } from '../../src/session/admission.js';
import { createLifecycle } from '../../src/session/lifecycle.js';
import type { ConnectionRecord } from '../../src/session/record.js';
import { testRecord, testSocket } from '../harness/records.js';

const log = pino({ level: 'silent' });

function socket() {
  const sent: string[] = [];
  const closes: number[] = [];
  const s = testSocket({ send: (text) => (sent.push(text), true), close: (code) => void closes.push(code) });
  return { s, sent, closes };
}


describe('lifecycle drain', () => {
  it('closes with the drain code a socket upgraded after the drain began, without a welcome', async () => {
    const fanout: LocalFanout = { publish: () => {}, subscribers: () => 0 };
    const broker = new MemoryBroker(createMemoryBus(), 'n1');
    const presence = new MemoryPresenceStore(createMemoryPresenceBackend(), 'n1', { leaseMs: 5000 });
    await presence.start();
    const hub = new Hub<ConnectionRecord>(broker, fanout, new HistoryFeeds({ broker, fanout, log }), new RoomFeed(presence, fanout, 0), log);
    const config = {
      nodeId: 'n1', drainSpreadMs: 0, ws: { idleTimeoutS: 60, maxPayloadBytes: 65536 },
      presence: { graceMs: 0, welcomeOnlineLimit: 100 },
    } as unknown as Config;
    const lifecycle = createLifecycle({
      config, admission: {} as ReturnType<typeof createAdmission>, session: () => {}, hub, feed: new PresenceFeed(fanout, { batchMs: 0 }),
      presence, metrics: createMetrics('n1'), log, markDirty: () => {},
    });
    // Admitted (counted in the hub) but not yet upgraded when the drain starts.
    const conn = testRecord('late');
    hub.add(conn);
    expect(await lifecycle.drain(1012)).toBe(1);
    const late = socket();
    lifecycle.handlers.opened({ conn, snapshot: { seq: 0, online: [], onlineCount: 0 } }, late.s);
    expect(late.closes).toEqual([1012]);
    expect(late.sent).toEqual([]);
  });
});
