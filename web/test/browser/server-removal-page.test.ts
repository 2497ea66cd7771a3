/**
 * The page in a real Chromium when a backend removes its user through the server API, against
 * one gateway process (in-process broker and presence) serving the page itself. In order:
 * - POST /api/unsubscribe: the page gets `left`, marks the room as left with the reason (rooms
 *   bar, log, member panel); after the link drops it re-joins its other room and not that one.
 * - POST /api/disconnect: the socket closes with 4003, the page ends the session with a notice
 *   and opens no new connection (watched for a bounded window: an absence); a new sign-in
 *   connects again.
 * The page's sockets are watched from outside (Playwright's websocket events: frames sent and
 * received) and their close codes from inside (an init script wrapping WebSocket).
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import { fileURLToPath } from 'node:url';
import buildDist from '../../../gateway/test/harness/build.js';
import { spawnGateway, tempDbPath, type GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'];
const API_KEY = 'removal-api-key-0123456789abcdef';
const PASSWORD = 'queen-of-hearts-9';
const WAIT = { timeout: 15_000 };
/** How long the page is watched for a reconnect that must not come. */
const QUIET_MS = 2000;

interface Socket { sent: string[]; received: string[] }

let gw: GatewayProcess;
let browser: Browser;
let page: Page;
let aliceId: string;
/** Every WebSocket the page opened, in order. */
const sockets: Socket[] = [];

/** Installed before the page's scripts: records the close code of every socket the page opens. */
function recordCloseCodes(): void {
  const w = window as unknown as { WebSocket: typeof WebSocket; closeCodes: number[] };
  const Native = w.WebSocket;
  w.closeCodes = [];
  w.WebSocket = class extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('close', (ev) => w.closeCodes.push(ev.code));
    }
  };
}

async function api(path: string, body: object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.http}${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function membersOf(action: string): Promise<string[]> {
  const res = await fetch(`${gw.http}/api/presence?action=${encodeURIComponent(action)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  const body = (await res.json()) as { users?: unknown[] };
  return (body.users ?? []).map((u) => (typeof u === 'string' ? u : (u as { id: string }).id));
}

/** Upgrade requests this gateway has seen, whatever their outcome (gateway_upgrades_total). */
async function upgrades(): Promise<number> {
  const text = await (await fetch(`${gw.http}/metrics`)).text();
  return [...text.matchAll(/^gateway_upgrades_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Watch `check` for `ms`: fails as soon as it is false (an absence cannot be waited for, only watched). */
async function holds(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await check())) throw new Error(`${what}: broken within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const joinsOf = (s: Socket) => s.sent.map((f) => JSON.parse(f) as { type: string; action?: string; joins?: Array<{ action: string }> })
  .flatMap((f) => (f.type === 'join' ? [f.action] : f.type === 'joins' ? f.joins!.map((j) => j.action) : []));
const room = (name: string) => `#rooms [data-room="${name}"]`;

async function signIn(): Promise<void> {
  await page.fill('#username', 'alice');
  await page.fill('#password', PASSWORD);
  await page.click('#signin-submit');
  await page.waitForSelector('body[data-state="connected"]', WAIT);
}

async function joinRoom(name: string): Promise<void> {
  await page.fill('#room', name);
  await page.press('#room', 'Enter');
  await page.waitForSelector(`${room(name)}[data-joined="true"]`, WAIT);
}

beforeAll(async () => {
  buildDist(); // dist/ from these sources (a no-op when fresh), whichever project runs this file
  const db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  aliceId = dir.add({ username: 'alice', displayName: 'Alice Liddell', password: PASSWORD }).id;
  dir.close();
  gw = await spawnGateway({
    DB_PATH: db, API_KEYS: API_KEY, NODE_ID: 'removal-a', PRESENCE_BATCH_MS: '10',
    CHANNELS_FILE: fileURLToPath(new URL('../../../deploy/channels.example.json', import.meta.url)), // room presence in `default`
  });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await (await browser.newContext()).newPage();
  await page.addInitScript(recordCloseCodes);
  page.on('websocket', (ws) => {
    const s: Socket = { sent: [], received: [] };
    sockets.push(s);
    ws.on('framesent', (f) => s.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => s.received.push(String(f.payload)));
  });
  await page.goto(gw.http);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.kill('SIGKILL');
});

describe('the page when the backend removes its user', () => {
  it('POST /api/unsubscribe: shows the room as left with the reason, and does not re-join it after a reconnect', async () => {
    await signIn();
    await joinRoom('lobby');
    await joinRoom('news'); // selected: the last one joined
    await page.waitForSelector('#members[data-room="news"][data-members="ready"]', WAIT);
    expect(await membersOf('news')).toContain(aliceId);

    const res = await api('/api/unsubscribe', { userId: aliceId, action: 'news' });
    expect(res).toEqual({ status: 200, json: { affected: 1, nodes: ['removal-a'], missing: [] } });
    await waitFor('the left frame', () => sockets[0].received.some((f) => f === JSON.stringify({ type: 'left', action: 'news', reason: 'unsubscribed' })), 10_000);
    await page.waitForSelector(`${room('news')}[data-left="unsubscribed"][data-joined="false"]`, WAIT);
    await page.waitForSelector('#messages .line.notice:has-text("You were removed from #news by the server (unsubscribed).")', WAIT);
    await page.waitForSelector('#members[data-room="news"][data-members="left"]', WAIT);
    expect(await page.textContent('#members-note')).toContain('removed from this room by the server (unsubscribed)');
    expect(await page.isDisabled('#compose')).toBe(true);
    expect(await page.getAttribute(room('lobby'), 'data-joined')).toBe('true');

    // Drop the link from the server side (a code the client reconnects after; tokens kept).
    const drop = await api('/api/disconnect', { userId: aliceId, code: 4000, reason: 'test: drop the link', revoke: false });
    expect(drop).toMatchObject({ status: 200, json: { affected: 1, missing: [] } });
    const rejoins = () => sockets.slice(1).flatMap(joinsOf);
    await waitFor('a new socket re-joining lobby', () => rejoins().includes('lobby'), 10_000);
    await page.waitForSelector(`body[data-state="connected"] ${room('lobby')}[data-joined="true"]`, WAIT);
    // The client sends every re-join in one go on the welcome: lobby's is there, news's would be too.
    expect(rejoins()).toEqual(['lobby']);
    expect(await page.evaluate(() => (window as unknown as { closeCodes: number[] }).closeCodes)).toEqual([4000]);
    expect(await membersOf('news')).not.toContain(aliceId);
    expect(await membersOf('lobby')).toContain(aliceId);
    expect(await page.getAttribute(room('news'), 'data-left')).toBe('unsubscribed');

    await joinRoom('news'); // by name again: a member again, the mark is gone
    expect(await page.getAttribute(room('news'), 'data-left')).toBeNull();
    await page.waitForSelector('#members[data-room="news"][data-members="ready"]', WAIT);
  });

  it('POST /api/disconnect: closed with 4003, shows a notice, opens no new connection; a new sign-in connects again', async () => {
    const opened = sockets.length;
    const res = await api('/api/disconnect', { userId: aliceId });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ affected: 1, nodes: ['removal-a'], missing: [], revokedAt: expect.any(Number) });
    await page.waitForSelector('#signin:not([hidden]) #signin-message[data-reason="disconnected"]', WAIT);
    expect(await page.textContent('#signin-message')).toBe('Disconnected by the server. Please sign in again.');
    expect(await page.evaluate(() => (window as unknown as { closeCodes: number[] }).closeCodes.at(-1))).toBe(4003);
    expect(await page.evaluate(() => localStorage.getItem('gateway.session'))).toBeNull();

    const before = await upgrades();
    await holds('no reconnect after 4003', async () => sockets.length === opened && (await upgrades()) === before
      && (await page.getAttribute('body', 'data-state')) === 'signed-out', QUIET_MS);

    // Tokens issued in the revocation's second are refused too (revocations.ts): sign in after it.
    const revokedAt = res.json.revokedAt as number;
    await waitFor('the revocation second to pass', () => Date.now() / 1000 >= revokedAt + 1, 2000);
    await signIn();
    expect(sockets.length).toBe(opened + 1);
    expect(await page.isHidden('#signin')).toBe(true);
  });
});
