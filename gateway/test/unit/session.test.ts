/**
 * Unit: session dispatch on the memory twins with a recording socket and fan-out
 * (pure logic; the real sockets are covered by the integration suites).
 */
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { createMemoryBus, MemoryBroker } from '../../src/broker/memory.js';
import type { LocalFanout } from '../../src/connection.js';
import type { ConnectionRecord } from '../../src/session/record.js';
import { testRecord, testSocket } from '../harness/records.js';
import { Hub } from '../../src/node/hub.js';
import { PresenceFeed } from '../../src/node/presence-feed.js';
import { createMemoryPresenceBackend, MemoryPresenceStore } from '../../src/presence/memory.js';
import { createSession } from '../../src/session/commands.js';
import { createAccess } from '../../src/channels/access.js';
import { parseChannelPolicy } from '../../src/channels/policy.js';
import { HistoryFeeds } from '../../src/history/feeds.js';
import { RoomFeed } from '../../src/node/rooms.js';
import { parseHistoryRules } from '../../src/history/policy.js';
import { createPublisher } from '../../src/node/publisher.js';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';
import { waitFor } from '../harness/wait.js';

const log = pino({ level: 'silent' });

function recordingFanout() {
  const published: Array<{ topic: string; text: string }> = [];
  const subs = new Map<string, number>();
  const fanout: LocalFanout = { publish: (topic, text) => void published.push({ topic, text }), subscribers: (t) => subs.get(t) ?? 0 };
  return { fanout, published, subs };
}

function recordingSocket(subs: Map<string, number>) {
  const sent: any[] = [];
  const excluded: Array<{ topic: string; text: string }> = [];
  const socket = testSocket({
    send: (text) => (sent.push(JSON.parse(text)), true),
    subscribe: (t) => void subs.set(t, (subs.get(t) ?? 0) + 1),
    unsubscribe: (t) => void subs.set(t, (subs.get(t) ?? 1) - 1),
    publishExceptSelf: (topic, text) => void excluded.push({ topic, text }),
  });
  return { socket, sent, excluded };
}

let dispatch: (conn: ConnectionRecord, text: string) => void;
let conn: ConnectionRecord;
let sent: any[];
let excluded: Array<{ topic: string; text: string }>;
let rec: ReturnType<typeof recordingFanout>;
let presence: MemoryPresenceStore;
let remote: MemoryBroker;

beforeEach(async () => {
  rec = recordingFanout();
  const bus = createMemoryBus();
  const broker = new MemoryBroker(bus, 'n1');
  remote = new MemoryBroker(bus, 'n2');
  presence = new MemoryPresenceStore(createMemoryPresenceBackend(), 'n1', { leaseMs: 5000 });
  await presence.start();
  const users = new SqliteUserDirectory(':memory:');
  const alice = users.add({ username: 'alice', displayName: 'Alice A' });
  users.add({ username: 'alina', displayName: 'Alina B' });
  const feeds = new HistoryFeeds({ broker, fanout: rec.fanout, log });
  const hub = new Hub<ConnectionRecord>(broker, rec.fanout, feeds, new RoomFeed(presence, rec.fanout, 0), log);
  const feed = new PresenceFeed(rec.fanout, { batchMs: 0 });
  const channels = parseChannelPolicy(undefined, parseHistoryRules('news*=3/1h'));
  const access = createAccess({ verifyGrant: async () => { throw new Error('no tokens here'); }, log });
  dispatch = createSession({
    publish: createPublisher({ fanout: rec.fanout, broker, historyOf: (a) => channels.rules(a).history, maxFrameBytes: 65536 }),
    feeds, channels, access, writes: { pending: 0 },
    hub, feed, presence, users, log, markDirty: () => {}, limits: { maxActions: 2, onlinePage: 100, msgRatePerS: 1000, msgBurst: 1000, strikesBeforeClose: 10 },
    authenticate: async () => { throw new Error('no tokens here'); },
  });
  const s = recordingSocket(rec.subs);
  sent = s.sent;
  excluded = s.excluded;
  conn = testRecord('n1:1', { userId: alice.id, username: 'alice', displayName: 'Alice A', socket: s.socket, tokens: 1000 });
  hub.add(conn);
  await presence.connect(alice.id, 'alice', 10);
});

const reply = (id: string) => waitFor(`reply ${id}`, () => sent.find((f) => f.id === id));

describe('session dispatch', () => {
  it('acks a join, subscribes the socket and the broker, and refuses publishing before joining', async () => {
    dispatch(conn, JSON.stringify({ type: 'publish', action: 'room', data: 1, id: 'p0' }));
    expect(await reply('p0')).toMatchObject({ type: 'error', code: 'not_member' });
    dispatch(conn, JSON.stringify({ type: 'join', action: 'room', id: 'j1' }));
    expect(await reply('j1')).toEqual({ type: 'ack', id: 'j1', result: { action: 'room', joined: true } });
    expect(rec.subs.get('a:room')).toBe(1);
    expect((await presence.members('room', undefined, 10)).users).toEqual([{ id: conn.userId, username: 'alice' }]);
  });

  it('stamps the sender, fans out locally except to the sender, and relays to other nodes', async () => {
    const seen: string[] = [];
    remote.onMessage(({ payload }) => seen.push(payload));
    await remote.subscribe('room');
    dispatch(conn, JSON.stringify({ type: 'join', action: 'room', id: 'j' }));
    await reply('j');
    dispatch(conn, JSON.stringify({ type: 'publish', action: 'room', data: { from: 'mallory' }, id: 'p' }));
    expect(await reply('p')).toMatchObject({ type: 'ack', result: { ts: expect.any(Number) } });
    const msg = JSON.parse(excluded[0].text);
    expect(msg).toMatchObject({ type: 'message', action: 'room', from: { userId: conn.userId, username: 'alice' }, data: { from: 'mallory' } });
    await waitFor('relayed', () => seen.length === 1);
    expect(seen[0]).toBe(excluded[0].text);
    dispatch(conn, JSON.stringify({ type: 'publish', action: 'room', data: 2, echo: true, id: 'e' }));
    await reply('e');
    expect(rec.published.some((p) => p.topic === 'a:room' && JSON.parse(p.text).data === 2)).toBe(true);
  });

  it('limits the actions per connection', async () => {
    for (const a of ['a1', 'a2', 'a3']) dispatch(conn, JSON.stringify({ type: 'join', action: a, id: a }));
    expect(await reply('a3')).toMatchObject({ type: 'error', code: 'too_many_actions' });
  });

  it('joins several actions in one frame, answering each as its own join would be, in order', async () => {
    dispatch(conn, JSON.stringify({ type: 'join', action: 'news', id: 'first' }));
    await reply('first');
    dispatch(conn, JSON.stringify({ type: 'publish', action: 'news', data: 'old', id: 'p' }));
    const since = (await reply('first')).result.offset as string;
    await reply('p');
    dispatch(conn, JSON.stringify({ type: 'leave', action: 'news', id: 'l' }));
    await reply('l');
    sent.length = 0;
    // limits.maxActions is 2: the third is refused, the others joined; news recovers what it missed.
    dispatch(conn, JSON.stringify({ type: 'joins', joins: [{ action: 'news', since }, { action: 'room' }, { action: 'third' }], id: 'b' }));
    const ack = await reply('b');
    expect(ack.result.results).toEqual([
      expect.objectContaining({ action: 'news', joined: true, recovered: true, delivered: 1 }),
      { action: 'room', joined: true },
      { action: 'third', joined: false, error: { code: 'too_many_actions', message: expect.any(String) } },
    ]);
    // The history came before the ack.
    const order = sent.map((f) => (f.type === 'message' ? `message:${f.data}` : f.type));
    expect(order.indexOf('message:old')).toBeLessThan(order.indexOf('ack'));
  });

  it('answers ping, search with online flags, watch and online paging', async () => {
    dispatch(conn, '{"type":"ping","id":"x"}');
    expect(await reply('x')).toMatchObject({ type: 'pong', ts: expect.any(Number) });
    dispatch(conn, '{"type":"search","q":"ali","id":"s"}');
    const found = (await reply('s')).result.users;
    expect(found.map((u: any) => [u.username, u.online])).toEqual([['alice', true], ['alina', false]]);
    dispatch(conn, JSON.stringify({ type: 'watch', users: [conn.userId, 'ghost'], id: 'w' }));
    expect((await reply('w')).result).toEqual({ watching: 2, onlineCount: 0, onlineListed: true, online: [conn.userId] });
    expect(rec.subs.get(`p:u:${conn.userId}`)).toBe(1);
    dispatch(conn, '{"type":"online","id":"o"}');
    expect((await reply('o')).result.users).toEqual([conn.userId]);
  });

  it('delivers history actions to every member, the sender too, with offsets, and catches a joiner up', async () => {
    dispatch(conn, JSON.stringify({ type: 'join', action: 'news', id: 'j' }));
    await reply('j');
    for (const n of [1, 2, 3, 4]) {
      dispatch(conn, JSON.stringify({ type: 'publish', action: 'news', data: n, id: `p${n}` }));
      await reply(`p${n}`);
    }
    await waitFor('four relayed', () => rec.published.filter((p) => p.topic === 'a:news').length === 4);
    const live = rec.published.filter((p) => p.topic === 'a:news').map((p) => JSON.parse(p.text));
    expect(live.map((m) => m.data)).toEqual([1, 2, 3, 4]);
    expect(live.every((m) => /^\d+-\d+$/.test(m.offset))).toBe(true);
    const offsets = live.map((m) => m.offset);
    const s2 = recordingSocket(rec.subs);
    const late: ConnectionRecord = { ...conn, id: 'n1:2', actions: new Set(), socket: s2.socket, tokens: 100, at: Date.now(), strikes: 0 };
    dispatch(late, JSON.stringify({ type: 'join', action: 'news', since: offsets[1], id: 'r' }));
    await waitFor('recovered ack', () => s2.sent.find((f) => f.id === 'r'));
    expect(s2.sent.filter((f) => f.type === 'message').map((m) => m.data)).toEqual([3, 4]);
    expect(s2.sent.find((f) => f.id === 'r').result).toMatchObject({ recovered: true, delivered: 2 });
    // History keeps 3: the first message was trimmed, so a client holding it still misses nothing...
    const s3 = recordingSocket(rec.subs);
    const edge: ConnectionRecord = { ...late, id: 'n1:3', actions: new Set(), socket: s3.socket };
    dispatch(edge, JSON.stringify({ type: 'join', action: 'news', since: offsets[0], id: 'e' }));
    await waitFor('edge ack', () => s3.sent.find((f) => f.id === 'e'));
    expect(s3.sent.find((f) => f.id === 'e').result).toMatchObject({ recovered: true, delivered: 3 });
    // ...but one holding only what came before it does.
    const s4 = recordingSocket(rec.subs);
    const gone: ConnectionRecord = { ...late, id: 'n1:4', actions: new Set(), socket: s4.socket };
    const before = `${Number(offsets[0].split('-')[0]) - 1}-0`;
    dispatch(gone, JSON.stringify({ type: 'join', action: 'news', since: before, id: 'g' }));
    await waitFor('gap ack', () => s4.sent.find((f) => f.id === 'g'));
    expect(s4.sent.find((f) => f.id === 'g').result).toMatchObject({ recovered: false });
    expect(s4.sent.filter((f) => f.type === 'message')).toEqual([]);
  });

  it('answers undecodable frames with an error and no id when none could be read', async () => {
    dispatch(conn, 'nope');
    await waitFor('error', () => sent.length === 1);
    expect(sent[0]).toEqual({ type: 'error', code: 'bad_json', message: expect.any(String) });
  });
});
