/**
 * How the client joins its actions again after a reconnect (web/src/memberships.ts): with
 * `history` when joined with it, with `since` the last offset seen otherwise, plain without
 * offsets; the ack's result reaches the caller and the `joined` event. Also the frame types
 * the client passes on as events: `profile` and `presence_reset`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { JoinResult } from '../src/client.js';
import { Memberships } from '../src/memberships.js';
import { fakeClient, FakeSocket, jwt, last } from './fakes.js';

const token = () => jwt(Date.now() + 3_600_000);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
});
afterEach(() => {
  vi.useRealTimers();
});

async function reconnect(): Promise<FakeSocket> {
  const before = last();
  before.drop();
  await vi.advanceTimersByTimeAsync(0);
  const next = last();
  expect(next).not.toBe(before);
  next.welcome('n2');
  return next;
}

describe('Memberships', () => {
  it('joins plainly at first, re-joins with since once an offset was seen, keeps history joins as they are', () => {
    const m = new Memberships();
    m.add('chat');
    m.add('tours', { history: 1 });
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat' });
    m.seen('chat', '17-0');
    m.seen('tours', '18-0');
    m.seen('unknown', '19-0');
    expect(m.command('chat', false)).toEqual({ type: 'join', action: 'chat' });
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat', since: '17-0' });
    expect(m.command('tours', true)).toEqual({ type: 'join', action: 'tours', history: 1 });
    m.add('chat'); // joining again keeps the offset
    expect(m.command('chat', true)).toMatchObject({ since: '17-0' });
    m.delete('chat');
    m.add('chat');
    expect(m.command('chat', true)).toEqual({ type: 'join', action: 'chat' });
    expect(m.actions).toEqual(['tours', 'chat']);
  });
});

describe('re-joining with recovery', () => {
  it('resolves join() with the ack result, and re-joins with since the last offset received', async () => {
    const client = fakeClient(token);
    const joined: Array<{ action: string; result: JoinResult; rejoin: boolean }> = [];
    client.on('joined', (j) => joined.push(j));
    client.start();
    last().welcome();
    const first = client.join('news');
    last().ack('join', { action: 'news', joined: true });
    await expect(first).resolves.toEqual({ action: 'news', joined: true });
    for (const offset of ['5-0', '6-0']) last().frame({ type: 'message', action: 'news', from: { system: true }, data: 1, offset, ts: 1 });

    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'news', since: '6-0', id: expect.any(String) }]);
    ws.ack('join', { action: 'news', joined: true, recovered: true, delivered: 3 });
    await vi.advanceTimersByTimeAsync(0);
    expect(joined.map((j) => [j.rejoin, j.result.recovered, j.result.delivered])).toEqual([[false, undefined, undefined], [true, true, 3]]);
  });

  it('asks for the last N again after every reconnect when joined with history (state-like actions)', async () => {
    const client = fakeClient(token);
    client.start();
    last().welcome();
    const joining = client.join('tours', { history: 1 });
    expect(last().sent[0]).toMatchObject({ type: 'join', action: 'tours', history: 1 });
    last().frame({ type: 'message', action: 'tours', from: { system: true }, data: { tours: [] }, offset: '9-0', ts: 1 });
    last().ack('join', { action: 'tours', joined: true, delivered: 1 });
    await expect(joining).resolves.toMatchObject({ delivered: 1 });
    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'tours', history: 1, id: expect.any(String) }]);
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

describe('events for newer frames', () => {
  it('passes on profile and presence_reset frames', () => {
    const client = fakeClient(token);
    const seen: unknown[] = [];
    client.on('profile', (p) => seen.push(p.user.displayName));
    client.on('presenceReset', (r) => seen.push(r.online));
    client.start();
    last().welcome();
    last().frame({ type: 'profile', user: { id: 'u2', username: 'bob', displayName: 'Bob B.' } });
    last().frame({ type: 'presence_reset', online: ['u1', 'u2'] });
    expect(seen).toEqual(['Bob B.', ['u1', 'u2']]);
  });
});
