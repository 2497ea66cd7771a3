/**
 * Unit: the hub's count of local members per action on the memory twins. A connection's
 * memberships are counted out once, by `release` when its socket closes; a leave that comes
 * later (a `refresh` or a backend unsubscribe that awaited across the close) counts nobody out.
 */
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createMemoryBus, MemoryBroker } from '../../src/broker/memory.js';
import type { LocalFanout } from '../../src/connection.js';
import { HistoryFeeds } from '../../src/history/feeds.js';
import { Hub } from '../../src/node/hub.js';
import { RoomFeed } from '../../src/node/rooms.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import type { ConnectionRecord } from '../../src/session/record.js';
import { testRecord, testSocket } from '../harness/records.js';
import { waitFor } from '../harness/wait.js';

const log = pino({ level: 'silent' });

it('keeps the other members of an action subscribed when a leave comes after a connection was released and forgotten', async () => {
  const published: string[] = [];
  const fanout: LocalFanout = { publish: (topic) => void published.push(topic), subscribers: () => 0 };
  const bus = createMemoryBus();
  const broker = new MemoryBroker(bus, 'n1');
  const remote = new MemoryBroker(bus, 'n2');
  const presence = new MemoryPresenceStore(createMemoryPresenceBackend(), 'n1', { leaseMs: 5000 });
  const hub = new Hub<ConnectionRecord>(broker, fanout, new HistoryFeeds({ broker, fanout, log }), new RoomFeed(presence, fanout, 0), log);
  const [gone, stays] = ['n1:1', 'n1:2'].map((id) => testRecord(id, { socket: testSocket(), actions: new Set(['room']) }));
  for (const c of [gone, stays]) {
    hub.add(c);
    await hub.join(c, 'room', { attach: true, room: false });
  }

  (gone.socket as ReturnType<typeof testSocket>).open = false;
  await hub.release(gone);
  hub.forget(gone);
  gone.actions.delete('room');
  await hub.left(gone, 'room');

  await remote.publish('room', '{"type":"message","action":"room","data":1}');
  await waitFor('the message reached the member who stayed', () => published.includes('a:room'), 2000);
});
