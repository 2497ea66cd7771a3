/**
 * The positions a client re-joins from (client/src/memberships.ts): the join ack's offset and
 * epoch, then each message's offset, sent as `since` + `epoch`, so recovery works from the
 * first moment; `history` before any position; plain on actions without history; after a
 * re-join that was not recovered, `history: N` again until the next ack. Then the same rules
 * through a RealtimeClient: what its `joins` frame carries after a reconnect.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compareOffsets } from '../src/index.js';
import type { ChannelEvents } from '../src/index.js';
import { Memberships } from '../src/memberships.js';
import { connected, FAKE_TIMERS, FakeSocket, last, reconnect, settle } from './fakes.js';

const message = (action: string, offset?: string) => ({ type: 'message', action, from: { system: true }, data: 1, ts: 1, ...(offset ? { offset } : {}) });

describe('Memberships', () => {
  it('joins plainly or with history at first, and re-joins with since + epoch once a position is known', () => {
    const m = new Memberships();
    m.add('chat');
    m.add('tours', { history: 1 });
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat' });
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', history: 1 });
    m.acked('chat', { offset: '17-0', epoch: 'e1' }); // the ack's position, before any message
    m.acked('tours', { offset: '18-0', epoch: 'e1' });
    m.seen('unknown', '19-0');
    expect(m.has('unknown')).toBe(false);
    expect(m.command('chat', false)).toEqual({ type: 'join', action: 'chat' });
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat', since: '17-0', epoch: 'e1' });
    expect(m.command('tours', false)).toEqual({ type: 'join', action: 'tours', history: 1 });
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', since: '18-0', epoch: 'e1' });
    m.seen('chat', '20-3');
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat', since: '20-3', epoch: 'e1' });
    m.add('chat'); // joining again keeps the position
    expect(m.position('chat')).toEqual({ offset: '20-3', epoch: 'e1' });
    m.delete('chat');
    m.add('chat');
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat' });
    expect(m.actions).toEqual(['tours', 'chat']);
    expect(m.historyOf('tours')).toBe(1);
    expect(m.historyOf('chat')).toBeUndefined();
  });

  it('moves a position forward only within an epoch; an ack of another epoch replaces it', () => {
    const m = new Memberships();
    m.add('news');
    m.seen('news', '12-0'); // a message before the first ack (history catch-up): no epoch yet
    expect(m.command('news', true)).toEqual({ type: 'join', action: 'news', since: '12-0' });
    m.acked('news', { offset: '11-0', epoch: 'e1' }); // a live message overtook the ack
    expect(m.position('news')).toEqual({ offset: '12-0', epoch: 'e1' });
    m.seen('news', '11-5'); // never backwards
    expect(m.position('news')).toEqual({ offset: '12-0', epoch: 'e1' });
    m.seen('news', '100-0'); // compared as numbers: 100 > 12
    expect(m.position('news')).toEqual({ offset: '100-0', epoch: 'e1' });
    m.acked('news', { offset: '130-0', epoch: 'e1' });
    expect(m.position('news')).toEqual({ offset: '130-0', epoch: 'e1' });
    m.acked('news', { offset: '3-0', epoch: 'e2' }); // the stream was created anew
    expect(m.position('news')).toEqual({ offset: '3-0', epoch: 'e2' });
    m.acked('news', { offset: undefined }); // an ack without history says nothing
    expect(m.position('news')).toEqual({ offset: '3-0', epoch: 'e2' });
  });

  it('hands out copies of positions', () => {
    const m = new Memberships();
    m.add('news');
    m.acked('news', { offset: '5-0', epoch: 'e1' });
    m.position('news')!.offset = '999-0';
    expect(m.position('news')).toEqual({ offset: '5-0', epoch: 'e1' });
  });

  it('after reload(), asks for the last N again until the next ack; reload() of an action without history changes nothing', () => {
    const m = new Memberships();
    m.add('tours', { history: 2 });
    m.add('news');
    m.acked('tours', { offset: '5-0', epoch: 'e1' });
    m.acked('news', { offset: '5-0', epoch: 'e1' });
    m.reload('tours');
    m.reload('news');
    m.seen('tours', '6-0');
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', history: 2 });
    expect(m.command('news', true)).toEqual({ type: 'join', action: 'news', since: '5-0', epoch: 'e1' });
    m.acked('tours', { offset: '7-0', epoch: 'e1' });
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', since: '7-0', epoch: 'e1' });
  });

  it('compares offsets as numbers, not as text', () => {
    expect(compareOffsets('9-0', '10-0')).toBeLessThan(0);
    expect(compareOffsets('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareOffsets('1700000000000-3', '1700000000000-3')).toBe(0);
    expect(compareOffsets('99999999999999999999-0', '99999999999999999998-0')).toBeGreaterThan(0); // past 2^53
  });
});

describe('re-joining with recovery, through the client', () => {
  beforeEach(() => {
    vi.useFakeTimers(FAKE_TIMERS);
    FakeSocket.all = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the join ack position from the first moment: a re-join without any message received uses since + epoch', async () => {
    const client = await connected();
    const news = client.channel('news');
    const joining = news.join();
    last().ack('join', { action: 'news', joined: true, offset: '40-0', epoch: 'e7' });
    await joining;
    expect(news.position).toEqual({ offset: '40-0', epoch: 'e7' });
    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'joins', joins: [{ action: 'news', since: '40-0', epoch: 'e7' }], id: expect.any(String) }]);
  });

  it('resolves join() with the ack result, and re-joins with since the largest offset received', async () => {
    const client = await connected();
    const news = client.channel('news');
    const joined: Array<ChannelEvents['joined']> = [];
    news.on('joined', (j) => joined.push(j));
    const first = news.join();
    last().ack('join', { action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    await expect(first).resolves.toEqual({ action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    for (const offset of ['5-0', '10-0', '9-0']) last().frame(message('news', offset));

    const ws = await reconnect();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'news', since: '10-0', epoch: 'e1' }]);
    ws.ack('joins', { results: [{ action: 'news', joined: true, recovered: true, delivered: 3, offset: '12-0', epoch: 'e1' }] });
    await settle();
    expect(joined.map((j) => [j.rejoin, j.result.recovered, j.result.delivered])).toEqual([[false, undefined, undefined], [true, true, 3]]);
    expect(news.position).toEqual({ offset: '12-0', epoch: 'e1' });
  });

  it('reports a re-join that was not recovered (`unrecovered`, not reloading) and sends nothing more for an action without history: N', async () => {
    const client = await connected();
    const news = client.channel('news');
    const unrecovered: Array<ChannelEvents['unrecovered']> = [];
    news.on('unrecovered', (u) => unrecovered.push(u));
    void news.join();
    last().ack('join', { action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    await settle();
    const ws = await reconnect();
    ws.ack('joins', { results: [{ action: 'news', joined: true, recovered: false, offset: '90-0', epoch: 'e2' }] });
    await settle();
    expect(unrecovered).toEqual([{ result: expect.objectContaining({ recovered: false }), reloading: false }]);
    expect(ws.sent.map((f) => f.type)).toEqual(['joins']);
    expect(news.position).toEqual({ offset: '90-0', epoch: 'e2' });
    expect(news.joined).toBe(true);
  });

  it('joins a history: N action again with history: N when its gap was not recovered, even across another drop', async () => {
    const client = await connected();
    const tours = client.channel('tours');
    const unrecovered: Array<ChannelEvents['unrecovered']> = [];
    tours.on('unrecovered', (u) => unrecovered.push(u));
    const joining = tours.join({ history: 1 });
    expect(last().lastOf('join')).toMatchObject({ type: 'join', action: 'tours', history: 1 });
    last().frame(message('tours', '9-0'));
    last().ack('join', { action: 'tours', joined: true, delivered: 1, offset: '9-0', epoch: 'e1' });
    await expect(joining).resolves.toMatchObject({ delivered: 1 });

    let ws = await reconnect();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'tours', since: '9-0', epoch: 'e1' }]);
    ws.ack('joins', { results: [{ action: 'tours', joined: true, recovered: false, delivered: 0, offset: '30-0', epoch: 'e1' }] });
    await settle();
    expect(unrecovered).toEqual([expect.objectContaining({ reloading: true })]);
    expect(ws.sent.at(-1)).toMatchObject({ type: 'leave', action: 'tours' });

    ws = await reconnect(); // dropped before the leave was answered
    expect(ws.sent).toEqual([{ type: 'joins', joins: [{ action: 'tours', history: 1 }], id: expect.any(String) }]);
    ws.frame(message('tours', '31-0'));
    ws.ack('joins', { results: [{ action: 'tours', joined: true, delivered: 1, offset: '31-0', epoch: 'e1' }] });
    await settle();
    ws = await reconnect();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'tours', since: '31-0', epoch: 'e1' }]);
  });

  it('after the leave is answered, joins with history: N on the same link', async () => {
    const client = await connected();
    const tours = client.channel('tours');
    const joined: boolean[] = [];
    tours.on('joined', (j) => joined.push(j.rejoin));
    void tours.join({ history: 1 });
    last().ack('join', { action: 'tours', joined: true, delivered: 1, offset: '9-0', epoch: 'e1' });
    await settle();
    const ws = await reconnect();
    ws.ack('joins', { results: [{ action: 'tours', joined: true, recovered: false, delivered: 0, offset: '30-0', epoch: 'e1' }] });
    await settle();
    ws.ack('leave', { action: 'tours', joined: false });
    await settle();
    expect(ws.sent.at(-1)).toEqual({ type: 'join', action: 'tours', history: 1, id: expect.any(String) });
    ws.ack('join', { action: 'tours', joined: true, delivered: 1, offset: '31-0', epoch: 'e1' });
    await settle();
    expect(joined).toEqual([false, true, true]);
    expect(tours.position).toEqual({ offset: '31-0', epoch: 'e1' });
  });

  it('re-joins plainly an action whose messages carry no offset (no history on the server)', async () => {
    const client = await connected();
    void client.channel('lobby').join();
    last().ack('join', { action: 'lobby', joined: true });
    last().frame({ type: 'message', action: 'lobby', from: { userId: 'u2', username: 'bob' }, data: 'hi', ts: 1 });
    await settle();
    expect(client.channel('lobby').position).toBeUndefined();
    const ws = await reconnect();
    expect(ws.lastOf('joins').joins).toEqual([{ action: 'lobby' }]);
  });
});
