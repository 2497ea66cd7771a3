/**
 * The page's feed policy (web/src/presence-feed.ts) over a real RealtimeClient on a scripted
 * socket (the test plays the gateway): stay on `*` while the cluster lists; watch the followed
 * users (the search results) with counts while it counts, again on every follow() and after a
 * reconnect; back to `*` when it lists again. `online(id)` answers for followed users. Names
 * come along: usernames from changes, profiles looked up for those listed.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WelcomeMessage } from '../../shared/protocol.js';
import type { RealtimeClient } from '../../client/src/index.js';
import { FAKE_TIMERS, fakeClient, FakeSocket, last, settle } from '../../client/test/fakes.js';
import { PresenceFeed } from '../src/presence-feed.js';
import { Profiles } from '../src/profiles.js';
import { Roster } from '../src/roster.js';

let client: RealtimeClient;
let roster: Roster;
let feed: PresenceFeed;
let stop: () => void;
let looked: string[][];
let renders: number;

/** Commands sent on the current socket, but pings. */
const sent = (): any[] => last().sent.filter((f) => f.type !== 'ping');
const lastSent = (): any => sent().at(-1);
const watches = (): any[] => sent().filter((f) => f.type === 'watch');

/** Answer `cmd` (one sent on the current socket) with `result`. */
async function answer(cmd: { id: string }, result: unknown): Promise<void> {
  last().frame({ type: 'ack', id: cmd.id, result });
  await settle();
}

async function connect(over: Partial<WelcomeMessage>): Promise<void> {
  void client.connect();
  await settle();
  last().welcome({ user: { id: 'me', username: 'me', displayName: 'Me' }, online: ['me'], onlineCount: 1, ...over });
  await settle();
}

const change = (userId: string, status: 'online' | 'offline') => ({ type: 'presence', changes: [{ userId, username: `@${userId}`, status, ts: 1 }] });
const ids = () => roster.list().map((p) => p.id).sort();

beforeEach(() => {
  vi.useFakeTimers(FAKE_TIMERS);
  FakeSocket.all = [];
  looked = [];
  renders = 0;
  client = fakeClient();
  roster = new Roster(client.presence);
  feed = new PresenceFeed(client, roster, new Profiles(roster, async (asked) => {
    looked.push(asked);
    return [];
  }));
  stop = feed.start();
  feed.onChange(() => (renders += 1));
});

afterEach(() => {
  stop();
  client.close();
  vi.useRealTimers();
});

describe('PresenceFeed, listed', () => {
  it('stays on * (no watch), lists the whole snapshot with its pages, and looks up the names of those listed', async () => {
    await connect({ online: ['me', 'u1'], onlineCount: 3, onlineCursor: '5' });
    expect(sent()).toEqual([{ type: 'online', cursor: '5', id: expect.any(String) }]);
    await answer(lastSent(), { users: ['u2'] });
    expect(ids()).toEqual(['me', 'u1', 'u2']);
    expect(roster.count()).toBe(3);
    expect(looked).toEqual([['me', 'u1'], ['u2']]);
    last().frame(change('u3', 'online'));
    await settle();
    expect(roster.label('u3')).toBe('@u3'); // the username of the change, until the profile comes
    expect(looked.at(-1)).toEqual(['u3']);
    expect(watches()).toEqual([]);
    expect(renders).toBeGreaterThan(0);
  });

  it('online(id): the exact state for followed users, undefined for others', async () => {
    await connect({ online: ['me', 'u1'], onlineCount: 2 });
    feed.follow([{ id: 'u1', online: false }, { id: 'u2', online: true }]); // a search answer, older than the feed
    expect([feed.online('u1'), feed.online('u2'), feed.online('me')]).toEqual([true, false, undefined]);
    last().frame(change('u1', 'offline'));
    expect(feed.online('u1')).toBe(false);
    expect(watches()).toEqual([]); // following changes nothing on the socket while listed
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
    expect([feed.online('u1'), feed.online('u2')]).toEqual([true, false]); // the answer is newer than the search
    last().frame(change('u2', 'online'));
    last().frame({ type: 'presence_count', onlineCount: 1503, listed: false });
    expect(feed.online('u2')).toBe(true);
    expect(feed.online('u9')).toBeUndefined();
    expect(roster.count()).toBe(1503);
    expect(ids()).toEqual([]);
    expect(looked).toEqual([]); // nobody listed: no names to look up
    expect(watches()).toHaveLength(2);
  });

  it('presence_count listed:false on *: drops the list and watches the followed users, once', async () => {
    await connect({ online: ['me', 'u1', 'u2'], onlineCount: 3 });
    feed.follow([{ id: 'u1', online: true }]);
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    expect(ids()).toEqual([]);
    expect(roster.count()).toBe(1200);
    expect(lastSent()).toEqual({ type: 'watch', users: ['u1'], count: true, id: expect.any(String) });
    last().frame({ type: 'presence_count', onlineCount: 1201, listed: false }); // no second watch
    await settle();
    expect(watches()).toHaveLength(1);
  });

  it('a reconnect that is counted sends the watch again, before the search runs again', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    feed.follow([{ id: 'u1', online: true }]);
    last().drop();
    await settle();
    last().welcome({ online: [], onlineCount: 1400, onlineListed: false });
    await settle();
    expect(sent()).toEqual([{ type: 'watch', users: ['u1'], count: true, id: expect.any(String) }]);
  });
});

describe('PresenceFeed, back to listed', () => {
  it('presence_count listed:true on a list: watch *, then the whole list paged from no cursor; changes meanwhile win', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 1500, onlineListed: false });
    last().frame({ type: 'presence_count', onlineCount: 3, listed: true });
    const star = lastSent();
    expect(star).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
    last().frame({ type: 'presence_count', onlineCount: 4, listed: true }); // still meant for the list: no second switch
    expect(sent().filter((f) => f.users === '*')).toHaveLength(1);
    await answer(star, { watching: '*', onlineCount: 3, onlineListed: true });
    expect(roster.listed).toBe(true);
    expect(roster.count()).toBe(3);
    const first = lastSent();
    expect(first).toEqual({ type: 'online', id: expect.any(String) });
    last().frame(change('u3', 'offline'));
    await answer(first, { users: ['me', 'u3'], cursor: '9' });
    expect(lastSent()).toEqual({ type: 'online', cursor: '9', id: expect.any(String) });
    await answer(lastSent(), { users: ['u4'] });
    expect(ids()).toEqual(['me', 'u4']);
    expect(roster.count()).toBe(2);
  });

  it('a watch * answer that says counted goes back to a list watch and pages nothing', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    feed.follow([{ id: 'u1', online: true }]);
    last().frame({ type: 'presence_count', onlineCount: 900, listed: true });
    await answer(lastSent(), { watching: '*', onlineCount: 1100, onlineListed: false });
    expect(roster.listed).toBe(false);
    expect(roster.count()).toBe(1100);
    expect(lastSent()).toEqual({ type: 'watch', users: ['u1'], count: true, id: expect.any(String) });
    expect(sent().some((f) => f.type === 'online')).toBe(false);
  });

  it('a list watch answer that says listed switches to *', async () => {
    await connect({ online: [], onlineCount: 1500, onlineListed: false });
    await answer(lastSent(), { watching: 0, online: [], onlineCount: 5, onlineListed: true });
    expect(lastSent()).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
    await answer(lastSent(), { watching: '*', onlineCount: 5, onlineListed: true });
    expect(roster.listed).toBe(true);
  });

  it('a presence_reset (reason "listed") sent for * before the list watch took effect: the watch\'s answer brings the page back to *', async () => {
    await connect({ online: ['me'], onlineCount: 1 });
    feed.follow([{ id: 'u1', online: true }]);
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    const watch = lastSent();
    last().frame({ type: 'presence_reset', online: ['me', 'u1', 'u2'], reason: 'listed' });
    expect(roster.listed).toBe(false);
    expect(feed.online('u1')).toBe(true);
    expect(client.presence.isOnline('u2')).toBe(false); // not watched
    await answer(watch, { watching: 1, online: ['u1'], onlineCount: 3, onlineListed: true });
    expect(lastSent()).toEqual({ type: 'watch', users: '*', id: expect.any(String) });
  });
});

describe('PresenceFeed, stopped', () => {
  it('steers no more once stopped', async () => {
    await connect({ online: ['me', 'u1'], onlineCount: 2 });
    feed.follow([{ id: 'u1', online: true }]);
    stop();
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    await settle();
    expect(watches()).toEqual([]);
    expect(feed.online('u1')).toBeUndefined(); // follows nobody
  });
});
