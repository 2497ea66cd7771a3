/**
 * Model-based check of exact recovery (issue 15): two nodes' history feeds share one stream;
 * fast-check interleaves publishes, live deliveries reaching each node (late, in order per
 * node, all of them lost when its subscriber reconnects, after which the broker says so), history reads executed and answered at
 * any later moment (in order per node, as one Redis connection answers), clients dropping
 * abruptly and rejoining either node with the position they hold. At the end everything in
 * flight is delivered and every client rejoins once more; each client's messages, over all its
 * sessions, must be every message after its first position exactly once, in order.
 *
 * Runs: HISTORY_MODEL_RUNS (default 400), each at most 60 steps.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { Delivery, HistoryQuery, HistoryRead } from '../../src/broker/types.js';
import { isOpen, type Connection, type LocalFanout } from '../../src/connection.js';
import { testRecord, testSocket, type TestSocket } from '../harness/records.js';
import { messageFrame } from '../../../shared/frames.js';
import { HistoryFeeds, type CatchUpResult } from '../../src/history/feeds.js';

const RUNS = Math.max(1, Number(process.env.HISTORY_MODEL_RUNS) || 400);
const policy = { count: 10_000, ageMs: 3_600_000 };
const ACTION = 'jit';
const seq = (offset: string) => Number(offset.split('-')[1]);

interface PendingRead { query: HistoryQuery; read?: HistoryRead; answer: (r: HistoryRead) => void }

/** The stream in Redis: appends, and reads answered as of the moment they execute. */
class Stream {
  readonly payloads: string[] = [];
  readonly epoch = 'e1';
  top(): string { return this.payloads.length === 0 ? '0-0' : `1-${this.payloads.length}`; }
  append(): Delivery {
    const prev = this.top();
    const payload = messageFrame({ action: ACTION, from: { system: true }, data: this.payloads.length + 1, ts: 1 });
    this.payloads.push(payload);
    return { topic: ACTION, payload, position: { offset: this.top(), prev, epoch: this.epoch } };
  }
  execute(q: HistoryQuery): HistoryRead {
    const top = { offset: this.top(), epoch: this.epoch };
    const all = this.payloads.map((payload, i) => ({ offset: `1-${i + 1}`, payload }));
    if (!q.since) return { messages: (q.last ?? 0) > 0 ? all.slice(-(q.last ?? 0)) : [], top };
    const from = seq(q.since.offset);
    if ((q.since.epoch !== undefined && q.since.epoch !== this.epoch) || from > all.length) return { recovered: false, messages: [], top };
    return { recovered: true, messages: all.slice(from), top };
  }
}

class Node {
  readonly sockets = new Map<Connection, Set<string>>();
  readonly inflight: Delivery[] = [];
  readonly reads: PendingRead[] = [];
  subscribed = false;
  readonly feeds: HistoryFeeds;
  constructor(stream: Stream) {
    const fanout: LocalFanout = {
      publish: (topic, frame) => { for (const [conn, t] of this.sockets) if (t.has(topic)) conn.socket!.send(frame); },
      subscribers: (topic) => [...this.sockets.values()].filter((t) => t.has(topic)).length,
    };
    const history = (_t: string, query: HistoryQuery) => new Promise<HistoryRead>((answer) => this.reads.push({ query, answer }));
    this.feeds = new HistoryFeeds({ broker: { history }, fanout, log: pino({ level: 'silent' }) });
    void stream;
  }
}

interface Client { got: number[]; position?: { offset: string; epoch: string }; first?: number; conn?: Connection; node?: Node }

function connect(client: Client, node: Node, id: number): Connection {
  const topicsOf = new Set<string>();
  const socket = testSocket({
    send: (frame) => {
      const m = JSON.parse(frame) as { data: number; offset: string };
      client.got.push(m.data);
      client.position = { offset: m.offset, epoch: client.position?.epoch ?? 'e1' };
      return true;
    },
    subscribe: (t) => void topicsOf.add(t),
    unsubscribe: (t) => void topicsOf.delete(t),
  });
  const conn = testRecord(`c${id}`, { userId: `u${id}`, actions: new Set([ACTION]), socket });
  node.sockets.set(conn, topicsOf);
  return conn;
}

async function join(client: Client, node: Node, id: number): Promise<void> {
  const conn = connect(client, node, id);
  client.conn = conn;
  client.node = node;
  node.subscribed = true;
  const req = client.position ? { since: client.position.offset, epoch: client.position.epoch } : { since: '0-0', epoch: 'e1' };
  const ack: CatchUpResult = await node.feeds.join(conn, ACTION, policy, req);
  if (!isOpen(conn)) return;
  expect(ack.recovered).toBe(true);
  if (client.first === undefined) client.first = seq(ack.position.offset) - ack.delivered + 1;
  if (!client.position || seq(ack.position.offset) > seq(client.position.offset)) client.position = { ...ack.position };
}

function drop(client: Client): void {
  const { conn, node } = client;
  if (!conn || !node) return;
  (conn.socket as TestSocket).open = false;
  node.sockets.delete(conn);
  node.feeds.leave(conn, ACTION);
  client.conn = client.node = undefined;
  if (node.sockets.size === 0) {
    node.feeds.vacate(ACTION);
    node.subscribed = false;
  }
}

const settle = () => new Promise((r) => setImmediate(r));

type Step =
  | { kind: 'publish' } | { kind: 'relay'; node: number } | { kind: 'outage'; node: number }
  | { kind: 'execute'; node: number } | { kind: 'answer'; node: number }
  | { kind: 'drop'; client: number } | { kind: 'join'; client: number; node: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'publish' as const }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('relay' as const), node: fc.nat(1) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('outage' as const), node: fc.nat(1) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('execute' as const), node: fc.nat(1) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('answer' as const), node: fc.nat(1) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('drop' as const), client: fc.nat(2) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('join' as const), client: fc.nat(2), node: fc.nat(1) }), weight: 2 },
);

/** Rare for random search, so always tried: a second interruption while the first one's read is on its way. */
const SECOND_OUTAGE_DURING_REPAIR: Step[] = [
  { kind: 'join', client: 0, node: 0 }, { kind: 'execute', node: 0 }, { kind: 'answer', node: 0 },
  { kind: 'publish' }, { kind: 'relay', node: 0 }, { kind: 'publish' }, { kind: 'outage', node: 0 },
  { kind: 'execute', node: 0 }, { kind: 'publish' }, { kind: 'outage', node: 0 }, { kind: 'answer', node: 0 },
];

/** Runs one step; reads are executed and answered in order per node (one Redis connection). */
async function apply(s: Step, stream: Stream, nodes: Node[], clients: Client[], joins: Promise<void>[]): Promise<void> {
  switch (s.kind) {
    case 'publish': {
      const d = stream.append();
      for (const n of nodes) if (n.subscribed) n.inflight.push(d);
      return;
    }
    case 'relay': { const d = nodes[s.node].inflight.shift(); if (d) nodes[s.node].feeds.relay(d); break; }
    // The node's subscriber reconnected: what was on its way is lost; the broker says so.
    case 'outage': nodes[s.node].inflight.splice(0); nodes[s.node].feeds.resume(); break;
    case 'execute': { const r = nodes[s.node].reads.find((x) => !x.read); if (r) r.read = stream.execute(r.query); return; }
    case 'answer': { const r = nodes[s.node].reads[0]; if (r?.read) nodes[s.node].reads.shift()!.answer(r.read); break; }
    case 'drop': drop(clients[s.client]); return;
    case 'join': if (!clients[s.client].conn) joins.push(join(clients[s.client], nodes[s.node], s.client)); break;
  }
  await settle();
}

/** Delivers everything in flight and answers every read, until nothing moves. */
async function drain(stream: Stream, nodes: Node[]): Promise<void> {
  for (let rounds = 0; rounds < 10_000; rounds += 1) {
    const busy = nodes.find((n) => n.inflight.length > 0 || n.reads.length > 0);
    if (!busy) return;
    for (const n of nodes) {
      while (n.inflight.length > 0) n.feeds.relay(n.inflight.shift()!);
      const r = n.reads.shift();
      if (r) r.answer(r.read ?? stream.execute(r.query));
    }
    await settle();
  }
  throw new Error('the feeds never settled');
}

describe('exact recovery under any interleaving (model)', () => {
  it('every client gets every message after its first position once, in order, across drops and moves', async () => {
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
      const stream = new Stream();
      const nodes = [new Node(stream), new Node(stream)];
      const clients: Client[] = [{ got: [] }, { got: [] }, { got: [] }];
      const joins: Promise<void>[] = [];
      for (const s of steps) await apply(s, stream, nodes, clients, joins);
      await drain(stream, nodes);
      await Promise.all(joins);
      for (const [i, c] of clients.entries()) if (!c.conn) joins.push(join(c, nodes[i % 2], i));
      await drain(stream, nodes);
      await Promise.all(joins);
      const total = stream.payloads.length;
      for (const c of clients) {
        const start = c.first ?? total + 1;
        expect(c.got).toEqual(Array.from({ length: total - start + 1 }, (_, k) => start + k));
      }
    }), { numRuns: RUNS, examples: [[SECOND_OUTAGE_DURING_REPAIR]] });
  });
});
