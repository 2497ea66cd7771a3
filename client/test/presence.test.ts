/**
 * Who is online (client/src/presence.ts), kept exact from the server's frames: a snapshot (the
 * welcome, a `presence_reset`) plus its pages read from the cursor, changes in arrival order (a
 * change is newer than any page), the counted mode past PRESENCE_LIST_MAX, list watches with
 * counts, listing again by paging from no cursor, a rate-limited page asked again, only the
 * newest watch counting. The test answers Presence's requests itself; the last part runs it
 * inside a RealtimeClient on a scripted socket (frames routed to it, the watch sent again after
 * a reconnect).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PresenceChange } from '../../shared/protocol.js';
import { Presence, RequestError, type PresenceUpdate } from '../src/index.js';
import { PAGE_RETRY_MS } from '../src/presence.js';
import { connected, FAKE_TIMERS, FakeSocket, last, settle, welcomeFrame } from './fakes.js';

interface Asked { cmd: any; resolve(result: unknown): void; reject(err: Error): void }

let asked: Asked[];
let presence: Presence;
let updates: PresenceUpdate[];

const timers = { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimeout: (h: unknown) => clearTimeout(h as ReturnType<typeof setTimeout>) };
const change = (userId: string, status: 'online' | 'offline'): PresenceChange => ({ userId, username: `@${userId}`, status, ts: 1 });
const ids = () => [...presence.online].sort();
/** The commands Presence sent, without ids. */
const commands = () => asked.map((a) => a.cmd);

/** Answer the last request (which must be `cmd`) with `result`, and let Presence go on. */
async function answer(result: unknown, cmd?: object): Promise<void> {
  const a = asked.at(-1)!;
  if (cmd) expect(a.cmd).toEqual(cmd);
  a.resolve(result);
  await settle();
}

beforeEach(() => {
  vi.useFakeTimers(FAKE_TIMERS);
  FakeSocket.all = [];
  asked = [];
  updates = [];
  presence = new Presence((cmd) => new Promise((resolve, reject) => asked.push({ cmd, resolve: resolve as (r: unknown) => void, reject })), timers);
  presence.on('change', (u) => updates.push(u));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('Presence an app never looks at', () => {
  it('reads no page until the app looks; pages read late are still exact', async () => {
    presence = new Presence((cmd) => new Promise((resolve, reject) => asked.push({ cmd, resolve: resolve as (r: unknown) => void, reject })), timers);
    presence.welcomed(welcomeFrame({ online: ['me', 'u1'], onlineCount: 4, onlineCursor: '7' }));
    presence.frame([change('u2', 'offline'), change('u5', 'online')]);
    expect(presence.count).toBe(4); // the count needs no page
    expect(asked).toEqual([]); // a reconnect of an app without presence costs one welcome, no `online`
    presence.welcomed(welcomeFrame({ online: ['me', 'u1'], onlineCount: 3, onlineCursor: '9' })); // the newer snapshot's pages only
    presence.frame([change('u2', 'offline')]);
    presence.on('change', (u) => updates.push(u));
    expect(commands()).toEqual([{ type: 'online', cursor: '9' }]);
    await answer({ users: ['u2', 'u3'] });
    expect(ids()).toEqual(['me', 'u1', 'u3']);
    presence.isOnline('u1'); // looking again starts nothing more
    expect(asked).toHaveLength(1);
  });

  it('starts the pages when the app reads online or isOnline', () => {
    for (const look of [(p: Presence) => p.online, (p: Presence) => p.isOnline('x')]) {
      asked = [];
      presence = new Presence((cmd) => new Promise((resolve, reject) => asked.push({ cmd, resolve: resolve as (r: unknown) => void, reject })), timers);
      presence.welcomed(welcomeFrame({ online: ['me'], onlineCount: 2, onlineCursor: '3' }));
      expect(asked).toEqual([]);
      look(presence);
      expect(commands()).toEqual([{ type: 'online', cursor: '3' }]);
    }
  });
});

describe('Presence, listed (watching *)', () => {
  it('starts from the welcome snapshot and applies changes in arrival order', () => {
    presence.welcomed(welcomeFrame({ online: ['me', 'u1'], onlineCount: 2 }));
    expect([presence.listed, presence.clusterListed, presence.watching, presence.count]).toEqual([true, true, '*', 2]);
    expect(ids()).toEqual(['me', 'u1']);
    expect(updates).toEqual([{ online: [], offline: [], reset: true, changes: [] }]);
    const batch = [change('u2', 'online'), change('u1', 'offline'), change('u2', 'offline'), change('u2', 'online'), change('me', 'online')];
    presence.frame(batch);
    expect(ids()).toEqual(['me', 'u2']);
    expect(presence.isOnline('u2')).toBe(true);
    expect(presence.isOnline('u1')).toBe(false);
    expect(presence.count).toBe(2);
    expect(updates.at(-1)).toEqual({ online: ['u2', 'u2'], offline: ['u1', 'u2'], reset: false, changes: batch });
    presence.frame([change('me', 'online')]); // nothing changed: no update
    expect(updates).toHaveLength(2);
    expect(asked).toEqual([]); // a complete snapshot: nothing to page
  });

  it('pages the rest of the snapshot from its cursor; a change seen meanwhile wins over a page', async () => {
    presence.welcomed(welcomeFrame({ online: ['me', 'u1'], onlineCount: 5, onlineCursor: '7' }));
    expect(commands()).toEqual([{ type: 'online', cursor: '7' }]);
    expect(presence.count).toBe(5); // the snapshot's count until every page is in
    presence.frame([change('u3', 'offline'), change('u5', 'online')]);
    await answer({ users: ['u2', 'u3', 'u1'], cursor: '8' });
    expect(commands().at(-1)).toEqual({ type: 'online', cursor: '8' });
    expect(updates.at(-1)).toMatchObject({ online: ['u2'], reset: false });
    presence.frame([change('u5', 'offline')]);
    await answer({ users: ['u4', 'u5'] }); // u5 went offline after this page was read
    expect(ids()).toEqual(['me', 'u1', 'u2', 'u4']);
    expect(presence.count).toBe(4);
    expect(asked).toHaveLength(2);
  });

  it('ignores the pages of a snapshot a newer one replaced', async () => {
    presence.welcomed(welcomeFrame({ online: ['me'], onlineCount: 3, onlineCursor: '1' }));
    presence.frame({ type: 'presence_reset', online: ['me', 'u1'], onlineCursor: '4', reason: 'outage' });
    expect(ids()).toEqual(['me', 'u1']);
    asked[0].resolve({ users: ['ghost'] }); // the welcome snapshot's page, late
    await settle();
    expect(presence.isOnline('ghost')).toBe(false);
    expect(commands()).toEqual([{ type: 'online', cursor: '1' }, { type: 'online', cursor: '4' }]);
    expect(presence.count).toBe(2);
    await answer({ users: ['u2'] });
    expect(ids()).toEqual(['me', 'u1', 'u2']);
  });

  it('asks for a page refused as rate_limited again after PAGE_RETRY_MS, and stops on any other failure', async () => {
    presence.welcomed(welcomeFrame({ online: ['me'], onlineCount: 3, onlineCursor: '5' }));
    asked[0].reject(new RequestError('rate_limited', 'slow down'));
    await settle();
    expect(asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(PAGE_RETRY_MS - 1);
    expect(asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(commands()).toEqual([{ type: 'online', cursor: '5' }, { type: 'online', cursor: '5' }]);
    await answer({ users: ['u2'], cursor: '6' });
    asked[2].reject(new RequestError('disconnected', 'gone')); // a new connection starts over
    await vi.advanceTimersByTimeAsync(PAGE_RETRY_MS * 3);
    expect(asked).toHaveLength(3);
    expect(ids()).toEqual(['me', 'u2']);
    expect(presence.count).toBe(3); // pages missing: at least the snapshot's count
  });

  it('lists for a welcome without onlineListed (an older gateway)', () => {
    const { onlineListed: _, ...old } = welcomeFrame({ online: ['me', 'u1'], onlineCount: 2 });
    presence.welcomed(old as never);
    expect(presence.listed).toBe(true);
    expect(ids()).toEqual(['me', 'u1']);
  });
});

describe('Presence, counted (more online than the cluster lists)', () => {
  it('a counted welcome: no list, the cluster count; changes list no one; presence_count updates the count', () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    expect([presence.listed, presence.clusterListed, presence.count, ids()]).toEqual([false, false, 1500, []]);
    presence.frame([change('u9', 'online')]);
    expect(ids()).toEqual([]);
    presence.frame({ type: 'presence_count', onlineCount: 1503, listed: false });
    expect(presence.count).toBe(1503);
    expect(updates.at(-1)).toEqual({ online: [], offline: [], reset: false, changes: [] });
  });

  it('presence_count listed:false while listed drops the list and the pages on their way', async () => {
    presence.welcomed(welcomeFrame({ online: ['me', 'u1'], onlineCount: 4, onlineCursor: '7' }));
    presence.frame({ type: 'presence_count', onlineCount: 1001, listed: false });
    expect([presence.listed, presence.clusterListed, presence.count, ids()]).toEqual([false, false, 1001, []]);
    expect(updates.at(-1)).toMatchObject({ reset: true });
    await answer({ users: ['u2', 'u3'] }); // the page asked for while listed comes in late
    expect(ids()).toEqual([]);
    expect(presence.count).toBe(1001);
  });

  it('back to listing with a presence_reset snapshot (reason "listed"), and counted again', async () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    presence.frame({ type: 'presence_reset', online: ['me', 'u1'], onlineCursor: '3', reason: 'listed' });
    expect([presence.listed, presence.clusterListed, ids(), presence.count]).toEqual([true, true, ['me', 'u1'], 2]);
    expect(commands()).toEqual([{ type: 'online', cursor: '3' }]);
    await answer({ users: ['u2'] });
    expect(presence.count).toBe(3);
    presence.frame({ type: 'presence_count', onlineCount: 2000, listed: false });
    expect([presence.listed, ids(), presence.count]).toEqual([false, [], 2000]);
  });
});

describe('Presence, watching a list', () => {
  it('sends the list with count: true; online holds those of the list online, count the cluster\'s', async () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    const watching = presence.watch(['u1', 'u2']);
    expect(commands()).toEqual([{ type: 'watch', users: ['u1', 'u2'], count: true }]);
    expect(presence.watching).toEqual(new Set(['u1', 'u2']));
    await answer({ watching: 2, online: ['u1'], onlineCount: 1502, onlineListed: false });
    await expect(watching).resolves.toBeUndefined();
    expect([presence.listed, presence.clusterListed, ids(), presence.count]).toEqual([false, false, ['u1'], 1502]);
    expect(updates.at(-1)).toMatchObject({ reset: true });
    presence.frame([change('u2', 'online'), change('u7', 'online'), change('u1', 'offline')]);
    expect(ids()).toEqual(['u2']); // u7 is not watched
    presence.frame({ type: 'presence_count', onlineCount: 1503, listed: false });
    expect(presence.count).toBe(1503);
    presence.frame({ type: 'presence_count', onlineCount: 900, listed: true }); // the `*` feed lists again: watch it to get the list
    expect([presence.listed, presence.clusterListed, presence.count, ids()]).toEqual([false, true, 900, ['u2']]);
  });

  it('a presence_reset while watching a list holds exactly the watched users', () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    void presence.watch(['u1', 'u2']);
    presence.frame({ type: 'presence_reset', online: ['me', 'u1', 'u3'], reason: 'outage' });
    expect(ids()).toEqual(['u1']);
    expect(presence.listed).toBe(false);
    expect(asked).toHaveLength(1); // nothing to page
  });

  it('only the newest watch counts: an older answer is ignored', async () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    const older = presence.watch(['u1']);
    const newer = presence.watch(['u1', 'u2']);
    asked[0].resolve({ watching: 1, online: ['u1'], onlineCount: 9999, onlineListed: false });
    await settle();
    expect([ids(), presence.count]).toEqual([[], 1500]);
    await answer({ watching: 2, online: ['u2'], onlineCount: 1600, onlineListed: false });
    expect([ids(), presence.count]).toEqual([['u2'], 1600]);
    await expect(Promise.all([older, newer])).resolves.toEqual([undefined, undefined]);
  });

  it('rejects watch() with the server\'s refusal', async () => {
    const watching = presence.watch(['u1']);
    asked[0].reject(new RequestError('rate_limited', 'watch changes: 2/s'));
    await expect(watching).rejects.toMatchObject({ code: 'rate_limited' });
  });
});

describe('Presence, watching * again', () => {
  it('relists by paging from no cursor; the count until every page is in; changes meanwhile win', async () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    void presence.watch(['u1']);
    await answer({ watching: 1, online: ['u1'], onlineCount: 1500, onlineListed: false });
    presence.frame({ type: 'presence_count', onlineCount: 3, listed: true });
    const star = presence.watch('*');
    expect(commands().at(-1)).toEqual({ type: 'watch', users: '*' });
    await answer({ watching: '*', onlineCount: 3, onlineListed: true });
    await star;
    expect([presence.listed, presence.clusterListed, presence.watching, ids(), presence.count]).toEqual([true, true, '*', [], 3]);
    expect(commands().at(-1)).toEqual({ type: 'online' });
    presence.frame([change('u3', 'offline'), change('u5', 'online')]);
    await answer({ users: ['me', 'u3'], cursor: '9' });
    expect(commands().at(-1)).toEqual({ type: 'online', cursor: '9' });
    expect(presence.count).toBe(3); // at least the count while pages are missing
    await answer({ users: ['u4'] });
    expect(ids()).toEqual(['me', 'u4', 'u5']);
    expect(presence.count).toBe(3);
    expect(asked).toHaveLength(4);
  });

  it('a watch * answer that says counted holds the count and pages nothing', async () => {
    presence.welcomed(welcomeFrame({ online: [], onlineCount: 1500, onlineListed: false }));
    void presence.watch('*');
    await answer({ watching: '*', onlineCount: 1100, onlineListed: false });
    expect([presence.listed, presence.clusterListed, presence.count, ids()]).toEqual([false, false, 1100, []]);
    expect(commands().some((c) => c.type === 'online')).toBe(false);
  });
});

describe('Presence in a RealtimeClient', () => {
  it('takes the welcome and the presence frames of the link', async () => {
    const client = await connected({}, { online: ['u1', 'u2'], onlineCount: 2 });
    expect([...client.presence.online]).toEqual(['u1', 'u2']);
    last().frame({ type: 'presence', changes: [change('u3', 'online'), change('u2', 'offline')] });
    expect([...client.presence.online].sort()).toEqual(['u1', 'u3']);
    last().frame({ type: 'presence_reset', online: ['u1', 'u9'], reason: 'churn' });
    expect([...client.presence.online].sort()).toEqual(['u1', 'u9']);
    last().frame({ type: 'presence_count', onlineCount: 1200, listed: false });
    expect([client.presence.listed, client.presence.count, client.presence.online.size]).toEqual([false, 1200, 0]);
    client.close();
  });

  it('sends the watched list again after a reconnect, and takes its answer', async () => {
    const client = await connected({}, { online: [], onlineCount: 1500, onlineListed: false });
    const watching = client.presence.watch(['u1', 'u2']);
    last().ack('watch', { watching: 2, online: ['u1'], onlineCount: 1500, onlineListed: false });
    await watching;
    expect([...client.presence.online]).toEqual(['u1']);

    last().drop();
    await settle();
    last().welcome({ online: [], onlineCount: 1400, onlineListed: false });
    await settle();
    expect(last().sent).toEqual([{ type: 'watch', users: ['u1', 'u2'], count: true, id: expect.any(String) }]);
    last().ack('watch', { watching: 2, online: ['u2'], onlineCount: 1401, onlineListed: false });
    await settle();
    expect([[...client.presence.online], client.presence.count]).toEqual([['u2'], 1401]);
    client.close();
  });

  it('watching *, a reconnect sends no watch and starts from the new welcome', async () => {
    const client = await connected({}, { online: ['u1', 'u2'], onlineCount: 2 });
    last().drop();
    await settle();
    last().welcome({ online: ['u3'], onlineCount: 1 });
    await settle();
    expect(last().sent).toEqual([]);
    expect([...client.presence.online]).toEqual(['u3']);
    client.close();
  });
});
