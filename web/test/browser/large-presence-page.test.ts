/**
 * The page in a real Chromium when the cluster is "large": one gateway process (in-process
 * presence) with PRESENCE_LIST_MAX=2, serving the page itself. Alice uses the page; the other
 * users are plain WebSocket clients that come and go. In order:
 * - at most 2 online: the full list, live;
 * - a third comes online: the page drops its list and shows the count and the note;
 * - a search result's badge flips online/offline live (the page watches the results with
 *   counts), and again after the page's link was dropped and re-opened;
 * - the count falls to 1 (at most 0.9 x 2): the list comes back, and is live again.
 * The page's socket is watched from outside (Playwright's websocket events: frames sent).
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import buildDist from '../../../gateway/test/harness/build.js';
import { TestClient } from '../../../gateway/test/harness/client.js';
import { spawnGateway, tempDbPath, tokenFor, type GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'];
const API_KEY = 'large-page-api-key-0123456789abcdef';
const PASSWORD = 'through-the-looking-glass-5';
const WAIT = { timeout: 15_000 };
const COUNTED_NOTE = 'Too many people online to list: search to see who is.';
const NAMES = { alice: 'Alice Liddell', bob: 'Bob Builder', carol: 'Carol Curious', dave: 'Dave Diver', erin: 'Erin Example' } as const;
type Name = keyof typeof NAMES;

let gw: GatewayProcess;
let browser: Browser;
let page: Page;
const ids = {} as Record<Name, string>;
/** The others' connections, while they are online. */
const others = new Map<Name, TestClient>();
/** Frames the page sent, over all its sockets, in order. */
const sent: Array<{ type: string; users?: unknown; count?: boolean; cursor?: string }> = [];

const listed = (id: string) => `#online-list [data-user-id="${id}"]`;
const result = (id: string) => `#search-results [data-user-id="${id}"]`;
const count = () => page.textContent('#online-count');

async function connect(name: Name): Promise<void> {
  const token = await tokenFor(ids[name], name);
  others.set(name, await TestClient.connect(gw.url, { protocols: ['bearer', token] }));
}

async function disconnect(name: Name): Promise<void> {
  const c = others.get(name)!;
  others.delete(name);
  c.close();
  await c.waitClosed();
}

/** The page is in counted mode: no list, `n` as the count, the note. */
async function showsCount(n: number): Promise<void> {
  await page.waitForSelector('#online-list[data-mode="counted"]', { state: 'attached', ...WAIT }); // empty: not "visible"
  await expect.poll(count, WAIT).toBe(String(n));
  expect(await page.$$('#online-list [data-user-id]')).toHaveLength(0);
  expect(await page.textContent('#online-note')).toContain(COUNTED_NOTE);
}

/** The page lists exactly `names`, with their count. */
async function showsList(names: Name[]): Promise<void> {
  await page.waitForSelector('#online-list[data-mode="listed"]', { state: 'attached', ...WAIT });
  const want = names.map((n) => ids[n]).sort();
  await expect.poll(async () => (await page.$$eval('#online-list [data-user-id]', (els) => els.map((e) => e.getAttribute('data-user-id')))).sort(), WAIT).toEqual(want);
  await expect.poll(count, WAIT).toBe(String(names.length));
  expect(await page.textContent('#online-note')).toBe('');
}

beforeAll(async () => {
  buildDist(); // dist/ from these sources (a no-op when fresh), whichever project runs this file
  const db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  for (const [name, displayName] of Object.entries(NAMES)) ids[name as Name] = dir.add({ username: name, displayName, password: PASSWORD }).id;
  dir.close();
  gw = await spawnGateway({ DB_PATH: db, API_KEYS: API_KEY, NODE_ID: 'large-page', PRESENCE_BATCH_MS: '10', PRESENCE_GRACE_MS: '0', PRESENCE_LIST_MAX: '2' });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  page = await (await browser.newContext()).newPage();
  page.on('websocket', (ws) => ws.on('framesent', (f) => sent.push(JSON.parse(String(f.payload)))));
  await page.goto(gw.http);
}, 60_000);

afterAll(async () => {
  for (const c of others.values()) c.close();
  await browser?.close();
  await gw?.kill('SIGKILL');
});

describe('the page in a cluster past PRESENCE_LIST_MAX', () => {
  it('lists everyone, live, while at most PRESENCE_LIST_MAX are online', async () => {
    await page.fill('#username', 'alice');
    await page.fill('#password', PASSWORD);
    await page.click('#signin-submit');
    await page.waitForSelector('body[data-state="connected"]', WAIT);
    await connect('bob');
    await showsList(['alice', 'bob']);
    expect(sent.filter((f) => f.type === 'watch')).toEqual([]); // the default `*` feed
  });

  it('shows the count and the note instead of the list past the limit', async () => {
    await connect('carol');
    await showsCount(3);
    // The page watches the search results (none yet) with counts, so the count stays live.
    expect(sent.filter((f) => f.type === 'watch').at(-1)).toMatchObject({ users: [], count: true });
    await connect('dave');
    await showsCount(4);
  });

  it('keeps a search result\'s badge live while counted, also after a reconnect', async () => {
    await page.fill('#search-q', 'erin');
    await page.waitForSelector(`${result(ids.erin)} .badge.off`, WAIT);
    await waitFor('the results watched with counts', () => sent.some((f) => f.type === 'watch' && Array.isArray(f.users) && f.users.includes(ids.erin) && f.count), 10_000);
    await connect('erin');
    await page.waitForSelector(`${result(ids.erin)} .badge.on`, WAIT);
    await showsCount(5);
    await disconnect('erin');
    await page.waitForSelector(`${result(ids.erin)} .badge.off`, WAIT);
    await showsCount(4);

    // Drop the page's link from the server side (a code it reconnects after): a counted welcome.
    const watches = sent.filter((f) => f.type === 'watch').length;
    const res = await fetch(`${gw.http}/api/disconnect`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: ids.alice, code: 4000, reason: 'test: drop the link', revoke: false }),
    });
    expect(res.status).toBe(200);
    await waitFor('the search run again and its results watched on the new link', () =>
      sent.slice(watches).some((f) => f.type === 'watch' && Array.isArray(f.users) && f.users.includes(ids.erin) && f.count), 10_000);
    await page.waitForSelector('body[data-state="connected"]', WAIT);
    await showsCount(4);
    await connect('erin');
    await page.waitForSelector(`${result(ids.erin)} .badge.on`, WAIT);
    await disconnect('erin');
    await page.waitForSelector(`${result(ids.erin)} .badge.off`, WAIT);
  });

  it('lists again once the count falls to 0.9 x PRESENCE_LIST_MAX, and the list is live again', async () => {
    const before = sent.length;
    for (const name of ['carol', 'dave'] as const) await disconnect(name);
    await showsCount(2); // 2 is not at most 1.8: still counted
    await disconnect('bob');
    await showsList(['alice']);
    const back = sent.slice(before);
    const star = back.findIndex((f) => f.type === 'watch' && f.users === '*');
    expect(star).toBeGreaterThanOrEqual(0);
    expect(back.slice(star).some((f) => f.type === 'online' && f.cursor === undefined)).toBe(true); // paged from the start
    await connect('bob');
    await showsList(['alice', 'bob']);
    await page.waitForSelector(`${result(ids.erin)} .badge.off`, WAIT);
  });
});
