/**
 * The client when the backend removes the user (web/src/client.ts): close 4003 (POST
 * /api/disconnect) stops it for good, even after a renewal, until a new sign-in starts it
 * again; a `left` frame (POST /api/unsubscribe) forgets the action, so a reconnect does not
 * join it again, while the other actions are re-joined as usual.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AuthFailure, ClientEvents, ConnectionStatus } from '../src/client.js';
import { fakeClient, FakeSocket, jwt, last, reconnect } from './fakes.js';

let token: string;
let asked: string[];

function makeClient() {
  const client = fakeClient(() => token, {
    fetch: async (url) => {
      asked.push(url);
      return { status: 200 };
    },
  });
  const failures: AuthFailure[] = [];
  const statuses: ConnectionStatus[] = [];
  const left: Array<ClientEvents['left']> = [];
  client.on('authFailure', (f) => failures.push(f));
  client.on('status', (s) => statuses.push(s));
  client.on('left', (l) => left.push(l));
  return { client, failures, statuses, left };
}


beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
  asked = [];
  token = jwt(Date.now() + 3_600_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('close 4003: disconnected by the backend', () => {
  it('stops with authFailure "disconnected" and never reconnects, even when the token was renewed meanwhile', async () => {
    const { client, failures, statuses } = makeClient();
    client.start();
    last().welcome();
    token = jwt(Date.now() + 7_200_000, 'u1'); // a renewal that raced the close
    last().drop(4003);
    expect(failures).toEqual([{ reason: 'disconnected', message: expect.stringContaining('Disconnected by the server') }]);
    expect(statuses.at(-1)).toEqual({ state: 'offline', reason: 'auth' });
    expect(client.welcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(FakeSocket.all).toHaveLength(1);
    expect(asked).toEqual([]); // not even /api/me is asked
    client.retryNow(); // the browser coming back online does not revive it
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('connects again after a new sign-in: start() with the new token', async () => {
    const { client, statuses } = makeClient();
    client.start();
    last().welcome();
    last().drop(4003);
    token = jwt(Date.now() + 3_600_000, 'u1');
    client.start();
    expect(FakeSocket.all).toHaveLength(2);
    expect(last().protocols).toEqual(['bearer', token]);
    last().welcome('n3');
    expect(statuses.at(-1)).toEqual({ state: 'connected', node: 'n3' });
  });

  it('rejects the requests still waiting for an answer with "disconnected"', async () => {
    const { client } = makeClient();
    client.start();
    last().welcome();
    const pending = client.request({ type: 'search', q: 'x' });
    last().drop(4003);
    await expect(pending).rejects.toMatchObject({ code: 'disconnected' });
  });
});

describe('a `left` frame: removed from an action by the backend', () => {
  it('reports it, forgets the action and its position, and re-joins only the others after a reconnect', async () => {
    const { client, left } = makeClient();
    client.start();
    last().welcome();
    const joins = [client.join('lobby'), client.join('news')];
    last().ack('join', { action: 'news', joined: true, offset: '7-0', epoch: 'e1' });
    const lobby = last().sent.find((f) => f.action === 'lobby');
    last().frame({ type: 'ack', id: lobby.id, result: { action: 'lobby', joined: true } });
    await Promise.all(joins);

    last().frame({ type: 'left', action: 'news', reason: 'unsubscribed' });
    expect(left).toEqual([{ type: 'left', action: 'news', reason: 'unsubscribed' }]);
    expect(client.actions).toEqual(['lobby']);
    expect(client.position('news')).toBeUndefined();

    const ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'lobby', id: expect.any(String) }]);
    ws.ack('join', { action: 'lobby', joined: true });
    await vi.advanceTimersByTimeAsync(0);
    const again = await reconnect();
    expect(again.sent.map((f) => [f.type, f.action])).toEqual([['join', 'lobby']]);
  });

  it('joins the action again only by a new join(), plainly (the old position is gone), and keeps it from then on', async () => {
    const { client } = makeClient();
    client.start();
    last().welcome();
    const first = client.join('news');
    last().ack('join', { action: 'news', joined: true, offset: '7-0', epoch: 'e1' });
    await first; // a browser handles each frame in its own task: the ack is applied before the next frame
    last().frame({ type: 'left', action: 'news', reason: 'unsubscribed' });

    const rejoining = client.join('news');
    expect(last().sent.at(-1)).toEqual({ type: 'join', action: 'news', id: expect.any(String) });
    expect(client.position('news')).toBeUndefined(); // nothing published while removed is owed
    // The drop rejects the pending join: its handler is attached before the drop happens.
    const refused = expect(rejoining).rejects.toMatchObject({ code: 'disconnected' });
    let ws = await reconnect(); // before the ack: the re-join is plain, not `since` the old position
    await refused;
    expect(ws.sent).toEqual([{ type: 'join', action: 'news', id: expect.any(String) }]);
    ws.ack('join', { action: 'news', joined: true, offset: '9-0', epoch: 'e1' });
    await vi.advanceTimersByTimeAsync(0);
    ws = await reconnect();
    expect(ws.sent).toEqual([{ type: 'join', action: 'news', since: '9-0', epoch: 'e1', id: expect.any(String) }]);
  });

  it('passes on a `left` for an action it did not keep, changing nothing else', () => {
    const { client, left } = makeClient();
    client.start();
    last().welcome();
    void client.join('lobby').catch(() => {});
    last().frame({ type: 'left', action: 'elsewhere', reason: 'unsubscribed' });
    expect(left.map((l) => l.action)).toEqual(['elsewhere']);
    expect(client.actions).toEqual(['lobby']);
    expect(client.welcome).toBeDefined();
  });
});
