/**
 * How the client joins its actions again after a reconnect (web/src/memberships.ts): from the
 * stream position it holds (the join ack's offset and epoch, then each message's offset) with
 * `since` + `epoch`, so recovery works from the first moment; with `history` before any
 * position; plain on actions without history. A re-join that was not recovered is reported,
 * and a `history: N` action gets its state again. Also the frame types the client passes on
 * as events (`profile`, `presence_reset`, `room`, `room_reset`) and the `members` request.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientEvents, JoinResult } from '../src/client.js';
import { compareOffsets, Memberships } from '../src/memberships.js';
import { fakeClient, FakeSocket, jwt, last, reconnect } from './fakes.js';

const token = () => jwt(Date.now() + 3_600_000);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});


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
  });

  it('moves a position forward only within an epoch; an ack of another epoch replaces it', () => {
    const m = new Memberships();
    m.add('news');
    m.seen('news', '12-0'); // a message before the first ack (history catch-up): no epoch yet
    m.acked('news', { offset: '11-0', epoch: 'e1' }); // a live message overtook the ack
    expect(m.position('news')).toEqual({ offset: '12-0', epoch: 'e1' });
    m.seen('news', '11-5'); // never backwards
    expect(m.position('news')).toEqual({ offset: '12-0', epoch: 'e1' });
    m.acked('news', { offset: '13-0', epoch: 'e1' });
    expect(m.position('news')).toEqual({ offset: '13-0', epoch: 'e1' });
    m.acked('news', { offset: '3-0', epoch: 'e2' }); // the stream was created anew
    expect(m.position('news')).toEqual({ offset: '3-0', epoch: 'e2' });
    m.acked('news', { offset: undefined }); // an ack without history says nothing
    expect(m.position('news')).toEqual({ offset: '3-0', epoch: 'e2' });
  });

  it('after reload(), asks for the last N again until the next ack', () => {
    const m = new Memberships();
    m.add('tours', { history: 2 });
    m.acked('tours', { offset: '5-0', epoch: 'e1' });
    m.reload('tours');
    m.seen('tours', '6-0');
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', history: 2 });
    m.acked('tours', { offset: '7-0', epoch: 'e1' });
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', since: '7-0', epoch: 'e1' });
  });

  it('compares offsets as numbers, not as text', () => {
    expect(compareOffsets('9-0', '10-0')).toBeLessThan(0);
    expect(compareOffsets('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareOffsets('1700000000000-3', '1700000000000-3')).toBe(0);
  });
});

describe('re-joining with recovery', () => {
  it('holds the join ack position from the first moment: a re-join without any message received uses since + epoch', async () => {
    const client = fakeClient(token);
    client.start();
    last().welcome();
    const joining = client.join('news');
    last().ack('join', { action: 'news', joined: true, offset: '40-0', epoch: 'e7' });
    await joining;
    expect(client.position('news')).toEqual({ offset: '40-0', epoch: 'e7' });
    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'news', since: '40-0', epoch: 'e7', id: expect.any(String) }]);
  });

  it('resolves join() with the ack result, and re-joins with since the last offset received', async () => {
    const client = fakeClient(token);
    const joined: Array<{ action: string; result: JoinResult; rejoin: boolean }> = [];
    client.on('joined', (j) => joined.push(j));
    client.start();
    last().welcome();
    const first = client.join('news');
    last().ack('join', { action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    await expect(first).resolves.toEqual({ action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    for (const offset of ['5-0', '6-0']) last().frame(message('news', offset));

    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'news', since: '6-0', epoch: 'e1', id: expect.any(String) }]);
    ws.ack('join', { action: 'news', joined: true, recovered: true, delivered: 3, offset: '9-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(joined.map((j) => [j.rejoin, j.result.recovered, j.result.delivered])).toEqual([[false, undefined, undefined], [true, true, 3]]);
    expect(client.position('news')).toEqual({ offset: '9-0', epoch: 'e1' });
  });

  it('tells the page when a re-join was not recovered (the page reloads the state itself)', async () => {
    const client = fakeClient(token);
    const unrecovered: Array<ClientEvents['unrecovered']> = [];
    client.on('unrecovered', (u) => unrecovered.push(u));
    client.start();
    last().welcome();
    void client.join('news');
    last().ack('join', { action: 'news', joined: true, offset: '4-0', epoch: 'e1' });
    const ws = await reconnect();
    ws.ack('join', { action: 'news', joined: true, recovered: false, offset: '90-0', epoch: 'e2' });
    await vi.advanceTimersByTimeAsync(0);
    expect(unrecovered).toEqual([{ action: 'news', result: expect.objectContaining({ recovered: false }), reloading: false }]);
    expect(ws.sent.map((f) => f.type)).toEqual(['join']); // nothing more: not a state-like action
    expect(client.position('news')).toEqual({ offset: '90-0', epoch: 'e2' });
  });

  it('joins a history: N action again with history: N when its gap was not recovered, even across another drop', async () => {
    const client = fakeClient(token);
    const unrecovered: Array<ClientEvents['unrecovered']> = [];
    client.on('unrecovered', (u) => unrecovered.push(u));
    client.start();
    last().welcome();
    const joining = client.join('tours', { history: 1 });
    expect(last().sent[0]).toMatchObject({ type: 'join', action: 'tours', history: 1 });
    last().frame(message('tours', '9-0'));
    last().ack('join', { action: 'tours', joined: true, delivered: 1, offset: '9-0', epoch: 'e1' });
    await expect(joining).resolves.toMatchObject({ delivered: 1 });

    let ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'tours', since: '9-0', epoch: 'e1', id: expect.any(String) }]);
    ws.ack('join', { action: 'tours', joined: true, recovered: false, delivered: 0, offset: '30-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(unrecovered).toEqual([expect.objectContaining({ action: 'tours', reloading: true })]);
    expect(ws.sent.at(-1)).toMatchObject({ type: 'leave', action: 'tours' });

    ws = await reconnect(); // dropped before the leave was answered
    expect(ws.sent).toEqual([{ type: 'join', action: 'tours', history: 1, id: expect.any(String) }]);
    ws.frame(message('tours', '31-0'));
    ws.ack('join', { action: 'tours', joined: true, delivered: 1, offset: '31-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'tours', since: '31-0', epoch: 'e1', id: expect.any(String) }]);
  });

  it('after the leave is answered, joins with history: N on the same link', async () => {
    const client = fakeClient(token);
    const joined: boolean[] = [];
    client.on('joined', (j) => joined.push(j.rejoin));
    client.start();
    last().welcome();
    void client.join('tours', { history: 1 });
    last().ack('join', { action: 'tours', joined: true, delivered: 1, offset: '9-0', epoch: 'e1' });
    const ws = await reconnect();
    ws.ack('join', { action: 'tours', joined: true, recovered: false, delivered: 0, offset: '30-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    ws.ack('leave', { action: 'tours', joined: false });
    await vi.advanceTimersByTimeAsync(0);
    expect(ws.sent.at(-1)).toEqual({ type: 'join', action: 'tours', history: 1, id: expect.any(String) });
    ws.ack('join', { action: 'tours', joined: true, delivered: 1, offset: '31-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    expect(joined).toEqual([false, true, true]);
    expect(client.position('tours')).toEqual({ offset: '31-0', epoch: 'e1' });
  });

  it('re-joins plainly an action whose messages carry no offset (no history on the server)', async () => {
    const client = fakeClient(token);
    client.start();
    last().welcome();
    void client.join('lobby').catch(() => {});
    last().ack('join', { action: 'lobby', joined: true });
    last().frame({ type: 'message', action: 'lobby', from: { userId: 'u2', username: 'bob' }, data: 'hi', ts: 1 });
    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'lobby', id: expect.any(String) }]);
  });

  it('keeps history when join() was called before the first welcome', async () => {
    const client = fakeClient(token);
    client.start();
    await expect(client.join('tours', { history: 1 })).rejects.toMatchObject({ code: 'disconnected' });
    last().welcome();
    expect(last().sent).toEqual([{ type: 'join', action: 'tours', history: 1, id: expect.any(String) }]);
  });
});

describe('room presence and newer frames', () => {
  it('passes on profile, presence_reset, room and room_reset frames', () => {
    const client = fakeClient(token);
    const seen: unknown[] = [];
    client.on('profile', (p) => seen.push(p.user.displayName));
    client.on('presenceReset', (r) => seen.push(r.online));
    client.on('room', (r) => seen.push([r.action, r.seq, r.changes.map((c) => c.status)]));
    client.on('roomReset', (r) => seen.push(`reset ${r.action}`));
    client.start();
    last().welcome();
    last().frame({ type: 'profile', user: { id: 'u2', username: 'bob', displayName: 'Bob B.' } });
    last().frame({ type: 'presence_reset', online: ['u1', 'u2'] });
    last().frame({ type: 'room', action: 'lobby', seq: 4, changes: [{ userId: 'u2', username: 'bob', status: 'joined', ts: 1 }] });
    last().frame({ type: 'room_reset', action: 'lobby' });
    expect(seen).toEqual(['Bob B.', ['u1', 'u2'], ['lobby', 4, ['joined']], 'reset lobby']);
  });

  it('members() asks for a page, with the cursor of the previous one', async () => {
    const client = fakeClient(token);
    client.start();
    last().welcome();
    const first = client.members('lobby');
    const page = { action: 'lobby', users: [{ id: 'u1', username: 'alice', displayName: 'Alice' }], count: 2, seq: 7, cursor: '12' };
    expect(last().ack('members', page)).toEqual({ type: 'members', action: 'lobby', id: expect.any(String) });
    await expect(first).resolves.toEqual(page);
    const next = client.members('lobby', '12');
    expect(last().sent.at(-1)).toEqual({ type: 'members', action: 'lobby', cursor: '12', id: expect.any(String) });
    last().frame({ type: 'error', id: last().sent.at(-1).id, code: 'forbidden', message: 'room presence is off for namespace live' });
    await expect(next).rejects.toMatchObject({ code: 'forbidden', message: 'room presence is off for namespace live' });
  });
});
