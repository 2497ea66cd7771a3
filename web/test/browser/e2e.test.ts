/**
 * The page in a real Chromium, through a real nginx (deploy/nginx.conf) in front of two
 * gateway processes sharing one redis-server, with the recommended channel policy
 * (deploy/channels.example.json). One scenario, in order: sign in (wrong password first), live
 * online list, search badges, chat, a profile change seen live by the other page, token
 * renewal, a SIGKILLed node and the page finding the survivor by itself, the room's members
 * live, a direct conversation (and a third user refused), sign-out with close 1000, and the
 * 429 message. Tokens last 60 s and `token_expiring` comes 55 s before expiry, so the pages
 * renew their token every few seconds throughout. UPDATE_SCREENSHOT=1 also writes docs/screenshot.png.
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import { spawnGateway, tempDbPath, type GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { startRedis, type RedisServer } from '../../../gateway/test/harness/redis.js';
import { uniquePrefix } from '../../../gateway/test/harness/wait.js';
import { startNginx, type Nginx } from '../nginx.js';
import { solidPng } from './png.js';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const SCREENSHOT = fileURLToPath(new URL('../../../docs/screenshot.png', import.meta.url));
const CHANNELS = fileURLToPath(new URL('../../../deploy/channels.example.json', import.meta.url));
const USERS = {
  alice: { displayName: 'Alice Liddell', password: 'looking-glass-42' },
  bob: { displayName: 'Bob Builder', password: 'can-we-fix-it-7' },
  carol: { displayName: 'Carol Curious', password: 'not-invited-3' },
} as const;
const ids: Record<string, string> = {};
const API_KEY = 'e2e-api-key-0123456789abcdef';
const WAIT = { timeout: 15_000 };

let redis: RedisServer;
let gateways: GatewayProcess[] = [];
let nginx: Nginx;
let browser: Browser;
const contexts: BrowserContext[] = [];
let alice: Page;
let bob: Page;

async function openPage(viewport: { width: number; height: number }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(nginx.url);
  return page;
}

async function submitSignIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signin-submit');
}

async function nodeOf(page: Page): Promise<string> {
  return (await page.getAttribute('body', 'data-node')) ?? '';
}

const online = (id: string) => `#online-list [data-user-id="${id}"]`;
const result = (id: string) => `#search-results [data-user-id="${id}"]`;
const member = (id: string) => `#member-list [data-user-id="${id}"]`;
const room = (name: string) => `#rooms [data-room="${name}"]`;

beforeAll(async () => {
  const db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  for (const [username, u] of Object.entries(USERS)) ids[username] = dir.add({ username, ...u }).id;
  dir.close();
  redis = await startRedis();
  // Short presence lease: the killed node's share is reaped within seconds, not 9 s.
  const env = {
    REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('web'), DB_PATH: db, PRESENCE_BATCH_MS: '10', PRESENCE_LEASE_MS: '2000',
    LOGIN_TOKEN_TTL_S: '60', TOKEN_EXPIRY_WARNING_S: '55', API_KEYS: API_KEY, CHANNELS_FILE: CHANNELS,
  };
  gateways = await Promise.all([spawnGateway({ ...env, NODE_ID: 'web-a' }), spawnGateway({ ...env, NODE_ID: 'web-b' })]);
  nginx = await startNginx(gateways.map((g) => g.port));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 30_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await nginx?.stop();
  await Promise.all(gateways.map((g) => g.kill('SIGKILL')));
  await redis?.stop();
});

describe('the page behind nginx', () => {
  it('refuses a wrong password clearly, signs in, and connects at once on the next load', async () => {
    alice = await openPage({ width: 1280, height: 800 });
    await submitSignIn(alice, 'alice', 'wrong-password');
    await alice.waitForSelector('#signin-message[data-reason="wrong_credentials"]', WAIT);
    expect(await alice.textContent('#signin-message')).toContain('Wrong username or password');

    await submitSignIn(alice, 'alice', USERS.alice.password);
    await alice.waitForSelector('body[data-state="connected"]', WAIT);
    expect(await alice.textContent('#me-name')).toContain('Alice Liddell');

    await alice.reload();
    await alice.waitForSelector('body[data-state="connected"]', WAIT);
    expect(await alice.isHidden('#signin')).toBe(true);
  });

  it('shows each user the other online, live', async () => {
    bob = await openPage({ width: 390, height: 844 }); // phone width
    await submitSignIn(bob, 'bob', USERS.bob.password);
    await bob.waitForSelector('body[data-state="connected"]', WAIT);
    await alice.waitForSelector(online(ids.bob), WAIT);
    await bob.waitForSelector(online(ids.alice), WAIT);
    await expect.poll(() => alice.textContent('#online-count'), WAIT).toBe('2');
    // Alice came to Bob as a bare id in his welcome snapshot: the `users` command names her.
    await expect.poll(() => bob.textContent(`${online(ids.alice)} .name`), WAIT).toBe('Alice Liddell');
  });

  it('searches the directory with online badges', async () => {
    await bob.fill('#search-q', 'ali');
    await bob.waitForSelector(`${result(ids.alice)} .badge.on`, WAIT);
    await alice.fill('#search-q', 'bob');
    await alice.waitForSelector(`${result(ids.bob)} .badge.on`, WAIT);
    expect(await alice.textContent(`${result(ids.bob)} .name`)).toBe('Bob Builder');
  });

  it('delivers chat across nodes with the sender name, marking own messages', async () => {
    for (const page of [alice, bob]) {
      await page.fill('#room', 'lobby');
      await page.press('#room', 'Enter');
      await page.waitForSelector('#rooms [data-room="lobby"][data-joined="true"]', WAIT);
    }
    await alice.fill('#compose', 'Hello from Alice');
    await alice.press('#compose', 'Enter');
    const line = await bob.waitForSelector('#messages .line:has-text("Hello from Alice")', WAIT);
    expect(await line.$eval('.from', (n) => n.textContent)).toBe('Alice Liddell');
    await alice.waitForSelector('#messages .line.mine:has-text("Hello from Alice")', WAIT);
    await bob.fill('#compose', 'Hi Alice, the build is green');
    await bob.press('#compose', 'Enter');
    await alice.waitForSelector('#messages .line:not(.mine):has-text("build is green")', WAIT);
    const res = await fetch(`${gateways[0].http}/api/publish`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'lobby', data: { text: 'Deploy finished' } }),
    });
    expect(res.status).toBe(200);
    for (const page of [alice, bob]) {
      const system = await page.waitForSelector('#messages .line.from-system:has-text("Deploy finished")', WAIT);
      expect(await system.$eval('.from', (n) => n.textContent)).toBe('system');
    }
  });

  it('shows a display-name change and a new picture live on the other page; refuses a non-image with the server message', async () => {
    await bob.click('#edit-profile');
    await bob.fill('#display-name', 'Bob the Builder');
    await bob.click('#name-save');
    await bob.waitForSelector('#profile-message:has-text("Saved your display name")', WAIT);
    await expect.poll(() => alice.textContent(`${online(ids.bob)} .name`), WAIT).toBe('Bob the Builder');
    await expect.poll(() => alice.textContent('#messages .line:not(.mine) .from'), WAIT).toBe('Bob the Builder');
    expect(await alice.textContent(`${result(ids.bob)} .name`)).toBe('Bob the Builder');
    expect(await bob.textContent('#me-name')).toContain('Bob the Builder');

    await bob.setInputFiles('#avatar-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') });
    await bob.waitForSelector('#profile-message[data-tone="error"]', WAIT);
    expect(await bob.textContent('#profile-message')).toContain('send image/png');
    await bob.setInputFiles('#avatar-file', { name: 'me.png', mimeType: 'image/png', buffer: solidPng(48, [240, 140, 40]) });
    await bob.waitForSelector('#profile-message:has-text("Saved your picture")', WAIT);
    const picture = await alice.waitForSelector(`${online(ids.bob)} .avatar img`, WAIT);
    expect(await picture.getAttribute('src')).toMatch(new RegExp(`^/api/users/${ids.bob}/avatar\\?v=\\d+$`));
    await alice.waitForFunction((id) => (document.querySelector(`#online-list [data-user-id="${id}"] .avatar img`) as HTMLImageElement | null)?.naturalWidth === 48, ids.bob, WAIT);
    await bob.click('#profile-close');
    if (process.env.UPDATE_SCREENSHOT) await alice.screenshot({ path: SCREENSHOT });
  });

  it('renews its token before it expires and stays connected without a warning', async () => {
    const stored = () => alice.evaluate(() => JSON.parse(localStorage.getItem('gateway.session') ?? '{}') as { accessToken?: string; expiresAt?: number });
    const before = await stored();
    await expect.poll(async () => (await stored()).expiresAt ?? 0, { timeout: 12_000 }).toBeGreaterThan(before.expiresAt ?? 0);
    expect((await stored()).accessToken).not.toBe(before.accessToken);
    expect(await alice.isHidden('#banner')).toBe(true);
    expect(await alice.getAttribute('body', 'data-state')).toBe('connected');
  });

  it('reconnects by itself through nginx when its node is SIGKILLed, and re-joins its room', async () => {
    const doomed = await nodeOf(alice);
    const victim = gateways.find((g) => g.nodeId === doomed);
    expect(victim, `page reports node "${doomed}"`).toBeDefined();
    const survivor = gateways.find((g) => g !== victim)!;
    await victim!.kill('SIGKILL');
    for (const page of [alice, bob]) {
      await page.waitForFunction((node) => document.body.dataset.state === 'connected' && document.body.dataset.node === node,
        survivor.nodeId, WAIT);
      await page.waitForSelector('#rooms [data-room="lobby"][data-joined="true"]', WAIT);
    }
    await alice.waitForSelector(online(ids.bob), WAIT);
    await bob.waitForSelector(online(ids.alice), WAIT);
    await bob.fill('#compose', 'Still here after the crash');
    await bob.press('#compose', 'Enter');
    await alice.waitForSelector('#messages .line:has-text("Still here after the crash")', WAIT);
  });

  it('shows who is in the room, live, read again after the failover: each sees the other; one who leaves is gone; none where room presence is off', async () => {
    for (const [page, other] of [[alice, ids.bob], [bob, ids.alice]] as const) {
      await page.waitForSelector(`#members[data-room="lobby"][data-members="ready"] ${member(other)}`, WAIT);
      await expect.poll(() => page.textContent('#members-count'), WAIT).toBe('2');
    }
    expect(await alice.textContent(`${member(ids.bob)} .name`)).toBe('Bob the Builder');
    expect(await alice.textContent(`${member(ids.alice)} .name`)).toBe('Alice Liddell (you)');
    await bob.click('#rooms .leave');
    await alice.waitForSelector(member(ids.bob), { state: 'detached', ...WAIT });
    await expect.poll(() => alice.textContent('#members-count'), WAIT).toBe('1');
    await bob.fill('#room', 'lobby');
    await bob.press('#room', 'Enter');
    await alice.waitForSelector(member(ids.bob), WAIT); // back, live
    await bob.waitForSelector(`#members[data-room="lobby"] ${member(ids.alice)}`, WAIT);

    // `live` (deploy/channels.example.json): no room presence, and publishes from backends only.
    await alice.fill('#room', 'live:ticker');
    await alice.press('#room', 'Enter');
    await alice.waitForSelector('#members[data-room="live:ticker"][data-members="off"]', WAIT);
    expect(await alice.textContent('#members-note')).toContain('room presence is off');
    await alice.fill('#compose', 'Can I post here?');
    await alice.press('#compose', 'Enter');
    await alice.waitForSelector('#chat-note:has-text("Not sent")', WAIT);
    expect(await alice.textContent('#chat-note')).toContain('publishes from the backend only');
    await alice.click('#rooms .leave');
    await alice.waitForSelector('#members[data-room="lobby"][data-members="ready"]', WAIT);
  });

  it('opens a direct conversation on dm#<sorted ids> by clicking a person; a third user is refused', async () => {
    const dm = `dm#${[ids.alice, ids.bob].sort().join(',')}`;
    await alice.click(`${member(ids.bob)} button[data-dm]`); // from the room's member list
    await alice.waitForSelector(`${room(dm)}[data-joined="true"][aria-pressed="true"]`, WAIT);
    expect(await alice.textContent(room(dm))).toBe('Bob the Builder');
    await bob.click(`${online(ids.alice)} button[data-dm]`); // from the online list
    await bob.waitForSelector(`${room(dm)}[data-joined="true"][aria-pressed="true"]`, WAIT);
    await alice.waitForSelector(`#members[data-room="${dm}"] ${member(ids.bob)}`, WAIT);
    await alice.fill('#compose', 'Psst, Bob: just between us');
    await alice.press('#compose', 'Enter');
    await bob.waitForSelector('#messages .line:not(.mine):has-text("just between us")', WAIT);

    const carol = await openPage({ width: 1024, height: 700 });
    await submitSignIn(carol, 'carol', USERS.carol.password);
    await carol.waitForSelector('body[data-state="connected"]', WAIT);
    await carol.fill('#room', dm);
    await carol.press('#room', 'Enter');
    await carol.waitForSelector('#chat-note:has-text("Could not join")', WAIT);
    expect(await carol.textContent('#chat-note')).toContain('only the users listed after "#" may join this action');
    expect(await carol.$(room(dm))).toBeNull();
    await carol.context().close(); // carol goes offline before the sign-out test counts
    for (const page of [alice, bob]) await page.click(room('lobby'));
  });

  it('signs out with close code 1000; the other page sees the user go offline', async () => {
    await alice.click('#signout');
    await alice.waitForSelector('#signin:not([hidden])', WAIT);
    expect(await alice.getAttribute('body', 'data-close-code')).toBe('1000');
    expect(await alice.evaluate(() => localStorage.getItem('gateway.session'))).toBeNull();
    await bob.waitForSelector(`${result(ids.alice)} .badge.off`, WAIT);
    await bob.waitForSelector(online(ids.alice), { state: 'detached', ...WAIT });
    await bob.waitForSelector(online(ids.carol), { state: 'detached', ...WAIT });
    expect(await bob.textContent('#online-count')).toBe('1');
  });

  it('says "too many attempts" when sign-in is rate limited', async () => {
    for (let i = 0; i < 12; i++) {
      await submitSignIn(alice, 'mallory', 'not-a-password');
      await alice.waitForSelector('#signin-message[data-reason]', WAIT);
      if ((await alice.getAttribute('#signin-message', 'data-reason')) === 'rate_limited') break;
    }
    expect(await alice.textContent('#signin-message')).toContain('Too many attempts');
  });
});
