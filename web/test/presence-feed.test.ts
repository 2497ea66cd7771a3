/**
 * PresenceFeed (web/src/presence-feed.ts) on the real GatewayClient over a scripted socket: the
 * test plays the gateway. Listed and counted modes, the switches between them, and which
 * `watch` / `online` commands the page sends for each.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WelcomeMessage } from '../../shared/protocol.js';
import type { GatewayClient } from '../src/client.js';
import { PAGE_RETRY_MS, PresenceFeed } from '../src/presence-feed.js';
import { Profiles } from '../src/profiles.js';
import { Roster } from '../src/roster.js';
import { fakeClient, FakeSocket, jwt, last } from './fakes.js';

let client: GatewayClient;
let roster: Roster;
let feed: PresenceFeed;
let stop: () => void;

function welcome(over: Partial<WelcomeMessage>): object {
  return {
    type: 'welcome', connectionId: 'c', node: 'n1', user: { id: 'me', username: 'me', displayName: 'Me' },
    online: ['me'], onlineCount: 1, onlineListed: true, heartbeatMs: 30_000, limits: { maxPayloadBytes: 65536, welcomeOnline: 100 }, ...over,
  };
}

/** Commands sent on the current socket, but `users` lookups (Profiles) and pings. */
const sent = (): any[] => last().sent.filter((f) => f.type !== 'users' && f.type !== 'ping');
const lastSent = (): any => sent().at(-1);
const settle = () => vi.advanceTimersByTimeAsync(0);

/** Answer `cmd` (one sent on the current socket) with `result`. */
async function answer(cmd: { id: string }, result: unknown): Promise<void> {
  last().frame({ type: 'ack', id: cmd.id, result });
  await settle();
}

async function connect(over: Partial<WelcomeMessage>): Promise<void> {
  client.start();
  last().frame(welcome(over));
  await settle();
}

const change = (userId: string, status: 'online' | 'offline') => ({ type: 'presence', changes: [{ userId, username: userId, status, ts: 1 }] });
const ids = () => roster.list().map((p) => p.id).sort();

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  FakeSocket.all = [];
  client = fakeClient(() => jwt(Date.now() + 3_600_000, 'me'));
  roster = new Roster();
  feed = new PresenceFeed(client, roster, new Profiles(roster, async () => []));
  stop = feed.start();
});

afterEach(() => {
  stop();
  client.stop();
  vi.useRealTimers();
});

describe('PresenceFeed, listed', () => {
  it('stays on * (no watch) and pages the rest of the welcome snapshot', async () => {
    await connect({ online: ['me', 'u1'], onlineCount: 3, onlineCursor: '5' });
    expect(sent()).toEqual([{ type: 'online', cursor: '5', id: expect.any(String) }]);
    await answer(lastSent(), { users: ['u2'] });
    expect(ids()).toEqual(['me', 'u1', 'u2']);
    feed.follow([{ id: 'u1', online: true }]);
    last().frame(change('u1', 'offline'));
    expect(feed.online('u1')).toBe(false);
    expect(sent().filter((f) => f.type === 'watch')).toEqual([]);
  });

  it('asks for a page again after a rate_limited refusal, and completes the list', async () => {
    await connect({ online: ['me'], onlineCount: 2, onlineCursor: '5' });
    const first = lastSent();
    last().frame({ type: 'error', id: first.id, code: 'rate_limited', message: 'slow down' });
    await settle();
    expect(sent()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(PAGE_RETRY_MS);
    expect(lastSent()).toEqual({ type: 'online', cursor: '5', id: expect.any(String) });
    await answer(lastSent(), { users: ['u2'] });
    expect(ids()).toEqual(['me', 'u2']);
  });
});

describe('PresenceFeed, counted', () => {
  it('a counted welcome: no list, the count, a watch of the followed users with counts; badges live', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    expect(roster.listed).toBe(false);
    expect(roster.count()).toBe(1500);
    expect(lastSent()).toEqual({ type: 'watch', users: [], count: true, id: expect.any(String) });
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 1501, onlineListed: false });
    expect(roster.count()).toBe(1501);

    feed.follow([{ id: 'u1', online: false }, { id: 'u2', online: true }]); // a search answer
    const watch = lastSent();
    expect(watch).toEqual({ type: 'watch', users: ['u1', 'u2'], count: true, id: expect.any(String) });
    await answer(watch, { watching: 2, online: ['u1'], onlineCount: 1502, onlineListed: false });
    expect([feed.online('u1'), feed.online('u2')]).toEqual([true, false]); // the ack is newer than the search
    last().frame(change('u2', 'online'));
    last().frame({ type: 'presence_count', onlineCount: 1503, listed: false });
    expect(feed.online('u2')).toBe(true);
    expect(roster.count()).toBe(1503);
    expect(ids()).toEqual([]);
  });

  it('presence_count listed:false on *: drops the list and watches the followed users', async () => {
    await connect({ online: ['me', 'u1', 'u2'], onlineCount: 3 });
    feed.follow([{ id: 'u1', online: true }]);
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    expect(ids()).toEqual([]);
    expect(roster.count()).toBe(1200);
    expect(lastSent()).toEqual({ type: 'watch', users: ['u1'], count: true, id: expect.any(String) });
    last().frame({ type: 'presence_count', onlineCount: 1201, listed: false }); // no second watch
    expect(sent().filter((f) => f.type === 'watch')).toHaveLength(1);
  });

  it('only the newest watch counts: an older ack is ignored', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    feed.follow([{ id: 'u1', online: false }]);
    const older = lastSent();
    feed.follow([{ id: 'u1', online: false }, { id: 'u2', online: false }]);
    const newer = lastSent();
    await answer(older, { watching: 1, online: ['u1'], onlineCount: 9999, onlineListed: false });
    expect(feed.online('u1')).toBe(false);
    expect(roster.count()).toBe(1500);
    await answer(newer, { watching: 2, online: ['u2'], onlineCount: 1600, onlineListed: false });
    expect([feed.online('u1'), feed.online('u2'), roster.count()]).toEqual([false, true, 1600]);
  });

  it('a reconnect that is counted watches again, before and after the search runs again', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    feed.follow([{ id: 'u1', online: true }]);
    last().drop();
    await settle();
    last().frame(welcome({ online: [], onlineCount: 1400, onlineListed: false }));
    await settle();
    expect(sent()).toEqual([{ type: 'watch', users: ['u1'], count: true, id: expect.any(String) }]);
  });
});

describe('PresenceFeed, back to listed', () => {
  it('presence_count listed:true on a list: watch *, then page online from no cursor; changes meanwhile win', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 1500, onlineListed: false });
    last().frame({ type: 'presence_count', onlineCount: 3, listed: true });
    expect(roster.listed).toBe(true);
    expect(roster.count()).toBe(3);
    const star = lastSent();
    expect(star).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
    last().frame({ type: 'presence_count', onlineCount: 4, listed: true }); // still meant for the list: no second switch
    expect(sent().filter((f) => f.users === '*')).toHaveLength(1);
    await answer(star, { watching: '*', onlineCount: 3, onlineListed: true });
    const first = lastSent();
    expect(first).toEqual({ type: 'online', id: expect.any(String) });
    last().frame(change('u3', 'offline'));
    await answer(first, { users: ['me', 'u3'], cursor: '9' });
    expect(lastSent()).toEqual({ type: 'online', cursor: '9', id: expect.any(String) });
    await answer(lastSent(), { users: ['u4'] });
    expect(ids()).toEqual(['me', 'u4']);
    expect(roster.count()).toBe(2);
  });

  it('a watch * ack that says counted again goes back to a list watch and pages nothing', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    last().frame({ type: 'presence_count', onlineCount: 900, listed: true });
    await answer(lastSent(), { watching: '*', onlineCount: 1100, onlineListed: false });
    expect(roster.listed).toBe(false);
    expect(roster.count()).toBe(1100);
    expect(lastSent()).toEqual({ type: 'watch', users: [], count: true, id: expect.any(String) });
    expect(sent().some((f) => f.type === 'online')).toBe(false);
  });

  it('a list watch ack that says listed switches to *', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 5, onlineListed: true });
    expect(lastSent()).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
    expect(roster.listed).toBe(true);
  });

  it('presence_reset on * (reason "listed" like any other) replaces the list and pages the rest', async () => {
    await connect({ online: ['me'], onlineCount: 1 });
    last().frame({ type: 'presence_reset', online: ['me', 'u1'], onlineCursor: '3', reason: 'listed' });
    expect(ids()).toEqual(['me', 'u1']);
    expect(lastSent()).toEqual({ type: 'online', cursor: '3', id: expect.any(String) });
    expect(sent().some((f) => f.type === 'watch')).toBe(false);
  });

  it('presence_reset while on a list watch (sent for * before the watch took effect) sends the watch again', async () => {
    await connect({ online: ['me'], onlineCount: 1 });
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    last().frame({ type: 'presence_reset', online: ['me', 'u1'], reason: 'listed' });
    expect(roster.listed).toBe(false);
    expect(sent().filter((f) => f.type === 'watch')).toHaveLength(2);
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 2, onlineListed: true });
    expect(lastSent()).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
  });
});

describe('GatewayClient', () => {
  it('emits presence_count frames as presenceCount', async () => {
    const counts: unknown[] = [];
    client.on('presenceCount', (c) => counts.push(c));
    await connect({});
    last().frame({ type: 'presence_count', onlineCount: 7, listed: false });
    expect(counts).toEqual([{ type: 'presence_count', onlineCount: 7, listed: false }]);
  });
});
