/**
 * The node's history feeds decide by offset what a joining member gets from history and what
 * live, whatever the order in which the history read and the live frames reach the node.
 * A scripted stream stands in for the broker: the test appends messages, decides when each
 * live delivery reaches the node and when each history read answers.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Delivery, HistoryQuery, HistoryRead } from '../../src/broker/types.js';
import type { Connection, LocalFanout } from '../../src/connection.js';
import { testRecord, testSocket } from '../harness/records.js';
import { messageFrame } from '../../../shared/frames.js';
import { HistoryFeeds } from '../../src/history/feeds.js';

const log = pino({ level: 'silent' });
const policy = { count: 100, ageMs: 60_000 };

/** A stream whose reads answer only when the test releases them. */
class ScriptedStream {
  readonly entries: Array<{ offset: string; payload: string }> = [];
  epoch = 'e1';
  floor = '0-0';
  private readonly pendingReads: Array<() => void> = [];

  append(n: number): Delivery {
    const prev = this.entries.at(-1)?.offset ?? '0-0';
    const offset = `1000-${n}`;
    const payload = messageFrame({ action: 'news', from: { system: true }, data: n, ts: 1 });
    this.entries.push({ offset, payload });
    return { topic: 'news', payload, position: { offset, prev, epoch: this.epoch } };
  }

  /** The read as of now, delivered when `release()` is called. */
  history = (_topic: string, q: HistoryQuery): Promise<HistoryRead> => {
    const top = { offset: this.entries.at(-1)?.offset ?? '0-0', epoch: this.epoch };
    const seq = (o: string) => Number(o.split('-')[1]);
    let read: HistoryRead;
    if (q.since) {
      const ok = (q.since.epoch === undefined || q.since.epoch === this.epoch) && seq(q.since.offset) >= seq(this.floor) && seq(q.since.offset) <= seq(top.offset);
      read = ok ? { recovered: true, messages: this.entries.filter((e) => seq(e.offset) > seq(q.since!.offset)), top } : { recovered: false, messages: [], top };
    } else read = { messages: (q.last ?? 0) > 0 ? this.entries.slice(-(q.last ?? 0)) : [], top };
    return new Promise((resolve) => this.pendingReads.push(() => resolve(read)));
  };

  async release(): Promise<void> {
    this.pendingReads.shift()!();
    await new Promise((r) => setImmediate(r));
  }
}

/** Local fan-out to fake sockets that record what each received, by topic membership. */
function localNode() {
  const sockets = new Map<string, { topics: Set<string>; got: number[] }>();
  const record = (id: string, frame: string) => sockets.get(id)!.got.push(JSON.parse(frame).data);
  const fanout: LocalFanout = {
    publish: (topic, frame) => {
      for (const [id, s] of sockets) if (s.topics.has(topic)) record(id, frame);
    },
    subscribers: (topic) => [...sockets.values()].filter((s) => s.topics.has(topic)).length,
  };
  const member = (id: string): { conn: Connection; got: number[] } => {
    const s = { topics: new Set<string>(), got: [] as number[] };
    sockets.set(id, s);
    const socket = testSocket({
      send: (frame) => (record(id, frame), true),
      subscribe: (t) => void s.topics.add(t),
      unsubscribe: (t) => void s.topics.delete(t),
    });
    const conn: Connection = testRecord(id, { actions: new Set(['news']), socket });
    return { conn, got: s.got };
  };
  return { fanout, member };
}

function setup() {
  const stream = new ScriptedStream();
  const node = localNode();
  const feeds = new HistoryFeeds({ broker: { history: stream.history }, fanout: node.fanout, log });
  return { stream, node, feeds };
}

describe('history feeds: catch-up decided by offset', () => {
  it('a live message that reaches the node after the read and before the answer is sent once (the read had it)', async () => {
    const { stream, node, feeds } = setup();
    const watcher = node.member('w');
    const d1 = stream.append(1);
    feeds.relay(d1); // the node is live at 1; nobody attached yet
    const joining = node.member('j');
    const join = feeds.join(joining.conn, 'news', policy, { since: '0-0' });
    const d2 = stream.append(2); // published after the read was taken... but the read answers later:
    await stream.release(); // read: [1], top 1
    feeds.relay(d2);
    const ack = await join;
    feeds.relay(stream.append(3));
    expect(joining.got).toEqual([1, 2, 3]);
    expect(ack).toMatchObject({ recovered: true, delivered: 1 });
    expect(watcher.got).toEqual([]);
  });

  it('messages that passed the node between the read and its answer come from the recent buffer', async () => {
    const { stream, node, feeds } = setup();
    feeds.relay(stream.append(1));
    const joining = node.member('j');
    const join = feeds.join(joining.conn, 'news', policy, { since: '1000-1' });
    const d2 = stream.append(2);
    const d3 = stream.append(3);
    feeds.relay(d2);
    feeds.relay(d3); // head 3, the read below says top 3 too... make it older:
    stream.entries.splice(1); // the read sees only message 1 (it was taken before 2 and 3)
    await stream.release();
    stream.entries.push({ offset: d2.position!.offset, payload: d2.payload }, { offset: d3.position!.offset, payload: d3.payload });
    const ack = await join;
    feeds.relay(stream.append(4));
    expect(joining.got).toEqual([2, 3, 4]);
    expect(ack).toMatchObject({ recovered: true, delivered: 2, position: { offset: '1000-3' } });
  });

  it('a member whose read is ahead of the live feed waits and gets the first message after its position directly', async () => {
    const { stream, node, feeds } = setup();
    feeds.relay(stream.append(1));
    const d2 = stream.append(2);
    const d3 = stream.append(3); // published, not yet relayed here
    const joining = node.member('j');
    const join = feeds.join(joining.conn, 'news', policy, { since: '1000-1' });
    await stream.release(); // read: 2, 3 (top 3), while the node's head is 1
    const ack = await join;
    feeds.relay(d2);
    feeds.relay(d3);
    feeds.relay(stream.append(4));
    feeds.relay(stream.append(5));
    expect(joining.got).toEqual([2, 3, 4, 5]);
    expect(ack).toMatchObject({ position: { offset: '1000-3' } });
  });

  it('before any live message, a member waits for the first one after its position', async () => {
    const { stream, node, feeds } = setup();
    stream.append(1);
    const d2 = stream.append(2);
    const joining = node.member('j');
    const join = feeds.join(joining.conn, 'news', policy, { history: 2 });
    await stream.release();
    await join;
    feeds.relay(d2); // published before the read, delivered live after: already had
    feeds.relay(stream.append(3));
    expect(joining.got).toEqual([1, 2, 3]);
  });

  it('repairs a gap in the live feed from history, in order, before what came after it', async () => {
    const { stream, node, feeds } = setup();
    const a = node.member('a');
    const join = feeds.join(a.conn, 'news', policy, {});
    await stream.release();
    await join;
    feeds.relay(stream.append(1));
    stream.append(2); // lost on the way to this node (its subscriber reconnected)
    stream.append(3);
    feeds.relay(stream.append(4));
    feeds.relay(stream.append(5)); // held while the gap is read back
    await stream.release();
    expect(a.got).toEqual([1, 2, 3, 4, 5]);
  });

  it('after its live feed was interrupted, reads the tail it missed without waiting for a later message', async () => {
    const { stream, node, feeds } = setup();
    const a = node.member('a');
    const join = feeds.join(a.conn, 'news', policy, {});
    await stream.release();
    await join;
    feeds.relay(stream.append(1));
    stream.append(2); // lost: the subscriber reconnected
    feeds.resume();
    await stream.release();
    expect(a.got).toEqual([1, 2]);
  });

  it('an interruption during a repair is read again once the repair ends', async () => {
    const { stream, node, feeds } = setup();
    const a = node.member('a');
    const join = feeds.join(a.conn, 'news', policy, {});
    await stream.release();
    await join;
    feeds.relay(stream.append(1));
    stream.append(2);
    feeds.resume(); // the repair's read is taken now: it holds 2 only
    stream.append(3); // lost in a second interruption, while that read is still on its way
    feeds.resume();
    await stream.release();
    await stream.release();
    expect(a.got).toEqual([1, 2, 3]);
  });

  it('plain joins start at the current position and receive only what comes after', async () => {
    const { stream, node, feeds } = setup();
    feeds.relay(stream.append(1));
    const p = node.member('p');
    const join = feeds.join(p.conn, 'news', policy, {});
    await stream.release();
    const ack = await join;
    feeds.relay(stream.append(2));
    expect(p.got).toEqual([2]);
    expect(ack).toEqual({ position: { offset: '1000-1', epoch: 'e1' }, delivered: 0 });
  });

  it('a recovery from another epoch is refused and the member starts over at the current position', async () => {
    const { stream, node, feeds } = setup();
    feeds.relay(stream.append(1));
    const m = node.member('m');
    const join = feeds.join(m.conn, 'news', policy, { since: '1000-1', epoch: 'old' });
    await stream.release();
    expect(await join).toMatchObject({ recovered: false, delivered: 0, position: { offset: '1000-1', epoch: 'e1' } });
    feeds.relay(stream.append(2));
    expect(m.got).toEqual([2]);
  });
});
