/**
 * The operator's page (/admin) in a real Chromium, against two gateway processes on one
 * redis-server and one directory file, with a dozen users connected (half on each node) in three
 * channels. In order:
 * - /admin is off (404, page and API) until the directory has an operator;
 * - a regular user who signs in there is refused and sees nothing of the cluster;
 * - an operator signs in: both nodes, the channels, the online count and a drawn chart; the
 *   cookie is HttpOnly, SameSite=Strict, Path=/admin and not Secure over plain http;
 * - a user who connects now appears without a reload; Disconnect closes their socket with 4003;
 * - actions without the CSRF token, with a wrong one, or from another origin are refused (403)
 *   and do nothing; the session works on the other node (behind a balancer, any node serves);
 * - the feed streams through the shipped nginx, and actions pass the Origin check behind it;
 * - no access token or API key is in the browser's storage or in anything the page loaded;
 * - sign-out ends the session on every node; sign-in is limited like /api/login (429).
 * UPDATE_SCREENSHOT=1 also writes docs/admin.png.
 */
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import type { TestClient } from '../../../gateway/test/harness/client.js';
import { startCluster, type Cluster } from '../../../gateway/test/harness/cluster.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';
import { startNginx, type Nginx } from '../nginx.js';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'];
const API_KEY = 'admin-page-api-key-0123456789abcdef';
const ROOT_PW = 'operator-pass-31';
const ALICE_PW = 'just-a-user-77';
const CHANNELS = ['lobby', 'news', 'ops'];
const USERS = Array.from({ length: 13 }, (_, i) => `user${i + 1}`);
const WAIT = { timeout: 15_000 };
const SCREENSHOT = fileURLToPath(new URL('../../../docs/admin.png', import.meta.url));

const fx = gatewayFixture();
let cluster: Cluster;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** user name -> its connected client (user13 connects during the tests). */
const clients = new Map<string, TestClient>();
/** Every access token minted for this file's clients. */
const tokens: string[] = [];
/** Bodies of every response the operator's pages received (streams excluded: read below). */
const bodies: Array<Promise<string>> = [];
let operator: Page;
let operatorContext: BrowserContext;
let nginx: Nginx | undefined;

const node = (i: number) => cluster.nodes[i];
const origin = (i: number) => node(i).http;

async function connect(name: string, nodeIndex: number, channel: string): Promise<TestClient> {
  const token = await fx.mint(cluster.ids[name], 600, name);
  tokens.push(token);
  const client = await fx.connectWith(node(nodeIndex), token);
  expect((await client.request({ type: 'join', action: channel })).type).toBe('ack');
  clients.set(name, client);
  return client;
}

const UNREAD = '<body not read in time>';

/** Keeps the body of every response `page` receives, except the feed's endless stream (read from Node below). */
function recordBodies(page: Page): void {
  page.on('response', (r) => {
    if (new URL(r.url()).pathname === '/admin/api/feed') return;
    bodies.push(Promise.race([r.text().catch(() => ''), new Promise<string>((resolve) => setTimeout(() => resolve(`${UNREAD} ${r.url()}`), 10_000))]));
  });
}

async function newPage(record: boolean): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  contexts.push(context);
  const page = await context.newPage();
  if (record) recordBodies(page);
  return { context, page };
}

async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#signin-submit');
}

/** A request to node `i` as a script elsewhere would send it, with the operator's cookie. */
async function withCookie(i: number, path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  const cookie = (await operatorContext.cookies()).find((c) => c.name === 'gw_operator');
  const headers = { ...(cookie ? { cookie: `gw_operator=${cookie.value}` } : {}), ...init.headers };
  return fetch(`${origin(i)}${path}`, { ...init, headers });
}

/** The feed at `url` with the operator's cookie, read until it sent a hello and a stats event (10 s at most). */
async function readFeed(url: string): Promise<string> {
  const cookie = (await operatorContext.cookies()).find((c) => c.name === 'gw_operator')!;
  const feed = await fetch(url, { headers: { cookie: `gw_operator=${cookie.value}` }, signal: AbortSignal.timeout(10_000) });
  expect(feed.status).toBe(200);
  expect(feed.headers.get('content-type')).toContain('text/event-stream');
  let stream = '';
  const reader = feed.body!.getReader();
  for (let chunk = 0; chunk < 100 && !stream.includes('event: stats'); chunk += 1) {
    const { value, done } = await reader.read();
    if (done) break;
    stream += new TextDecoder().decode(value);
  }
  await reader.cancel();
  expect(stream).toContain('event: hello');
  expect(stream).toContain('event: stats');
  return stream;
}

beforeAll(async () => {
  cluster = await startCluster(fx, 'admin', {
    nodes: 2,
    env: { API_KEYS: API_KEY, PRESENCE_BATCH_MS: '10', PRESENCE_GRACE_MS: '0', HISTORY_ACTIONS: 'news=20/1h' },
    users: [{ username: 'root', password: ROOT_PW, displayName: 'Root Operator' }, { username: 'alice', password: ALICE_PW }, ...USERS.map((u) => ({ username: u }))],
  });
  await Promise.all(USERS.slice(0, 12).map((u, i) => connect(u, i % 2, CHANNELS[i % 3])));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 60_000);

afterAll(async () => {
  await nginx?.stop();
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await cluster?.stop();
});

describe('the operator page on two gateways', () => {
  it('is off while no operator exists, and on once the directory has one, under the main page\'s CSP', async () => {
    for (const path of ['/admin', '/admin/app.js', '/admin/api/session']) expect((await fetch(`${origin(0)}${path}`)).status, path).toBe(404);
    const signin = await fetch(`${origin(0)}/admin/api/signin`, {
      method: 'POST', headers: { 'content-type': 'application/json', origin: origin(0) }, body: JSON.stringify({ username: 'root', password: ROOT_PW }),
    });
    expect(signin.status).toBe(404);
    const dir = new SqliteUserDirectory(cluster.db);
    dir.setAdmin('root', true);
    dir.close();
    const page = await fetch(`${origin(1)}/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe((await fetch(`${origin(1)}/`)).headers.get('content-security-policy'));
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
  });

  it('refuses a regular user who signs in, showing nothing of the cluster and setting no cookie', async () => {
    const { context, page } = await newPage(false);
    const api: Array<{ url: string; status: number; body: string }> = [];
    page.on('response', async (r) => {
      if (r.url().includes('/admin/api/')) api.push({ url: r.url(), status: r.status(), body: await r.text().catch(() => '') });
    });
    await page.goto(`${origin(0)}/admin`);
    await signIn(page, 'alice', ALICE_PW);
    await page.waitForSelector('#signin-message[data-status="403"]', WAIT);
    expect(await page.textContent('#signin-message')).toContain('not an operator');
    expect(await page.isHidden('#console')).toBe(true);
    expect(await page.$$('#nodes-body tr')).toHaveLength(0);
    const signin = api.find((r) => r.url.endsWith('/admin/api/signin'))!;
    expect(signin.status).toBe(403);
    expect(Object.keys(JSON.parse(signin.body)).sort()).toEqual(['error', 'message']);
    expect(api.filter((r) => r.status === 200)).toEqual([]);
    for (const r of api) for (const word of [node(0).nodeId, node(1).nodeId, ...CHANNELS]) expect(r.body).not.toContain(word);
    expect(await context.cookies()).toEqual([]);
  });

  it('signs an operator in: both nodes, the channels, the online count and a chart; an HttpOnly, SameSite=Strict cookie', async () => {
    const { context, page } = await newPage(true);
    operator = page;
    operatorContext = context;
    await page.goto(`${origin(0)}/admin`);
    await signIn(page, 'root', ROOT_PW);
    await page.waitForSelector('body[data-state="connected"]', WAIT);
    for (const n of cluster.nodes) await page.waitForSelector(`#nodes-body [data-node-id="${n.nodeId}"]`, WAIT);
    await expect.poll(() => page.textContent('#online-count'), WAIT).toBe('12');
    for (const ch of CHANNELS) await page.waitForSelector(`#channels [data-channel="${ch}"]`, WAIT);
    // user2 is connected to the other node: its channels come from that node's answer ($query).
    await page.waitForSelector(`#users [data-user-id="${cluster.ids.user2}"] .chip[data-channel="news"]`, WAIT);
    // A chart is drawn: canvases sized, and fed with samples over time.
    await expect.poll(() => page.getAttribute('#chart-connections', 'data-points').then(Number), WAIT).toBeGreaterThanOrEqual(2);
    const canvas = await page.$eval('#chart-connections canvas', (c) => ({ w: (c as HTMLCanvasElement).width, h: (c as HTMLCanvasElement).height }));
    expect(canvas.w).toBeGreaterThan(100);
    expect(canvas.h).toBeGreaterThan(50);

    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ name: 'gw_operator', httpOnly: true, sameSite: 'Strict', secure: false, path: '/admin' });
    expect(await page.evaluate(() => document.cookie)).toBe('');
  });

  it('shows a user who connects now, without a reload', async () => {
    const id = cluster.ids.user13;
    expect(await operator.$(`#users [data-user-id="${id}"]`)).toBeNull();
    await connect('user13', 1, 'ops');
    await operator.waitForSelector(`#users [data-user-id="${id}"]`, WAIT);
    await operator.waitForSelector(`#events [data-type="online"][data-user-id="${id}"]`, WAIT);
    await expect.poll(() => operator.textContent('#online-count'), WAIT).toBe('13');
    if (process.env.UPDATE_SCREENSHOT) {
      await operator.click('#channels [data-channel="ops"]');
      await operator.waitForSelector('#channel-members [data-user-id]', WAIT);
      await operator.screenshot({ path: SCREENSHOT, fullPage: true });
    }
  });

  it('closes a user\'s socket with 4003 from the Disconnect button, and logs who did it', async () => {
    const id = cluster.ids.user5;
    await operator.click(`#users [data-user-id="${id}"] [data-action="disconnect"]`);
    expect((await clients.get('user5')!.waitClosed(10_000)).code).toBe(4003);
    await operator.waitForSelector(`#users [data-user-id="${id}"]`, { state: 'detached', ...WAIT });
    const logged = () => cluster.nodes.some((n) => n.logs.some((l) => l.includes('"operator":"root"') && l.includes('"command":"disconnect"') && l.includes(id)));
    await waitFor('the action in a log, with the operator', logged);
  });

  it('refuses actions without the CSRF token, with a wrong one, or from another origin, and does nothing', async () => {
    const id = cluster.ids.user6;
    const post = (csrf?: string) => operator.evaluate(async ([userId, token]) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { 'x-csrf-token': token } : {}) };
      const res = await fetch('/admin/api/disconnect', { method: 'POST', headers, body: JSON.stringify({ userId }) });
      await res.text(); // read, so that the browser (and the body check below) has it whole
      return res.status;
    }, [id, csrf] as const);
    expect(await post()).toBe(403);
    expect(await post('not-the-token')).toBe(403);
    const { csrf } = (await (await withCookie(0, '/admin/api/session')).json()) as { csrf: string };
    const body = JSON.stringify({ userId: id });
    const headers = { 'content-type': 'application/json', 'x-csrf-token': csrf };
    expect((await withCookie(0, '/admin/api/disconnect', { method: 'POST', body, headers: { ...headers, origin: 'https://evil.example' } })).status).toBe(403);
    expect((await withCookie(0, '/admin/api/disconnect', { method: 'POST', body, headers })).status).toBe(403); // no Origin at all
    // Nothing was done: user6 is still connected and answers.
    expect((await clients.get('user6')!.request({ type: 'join', action: 'still-here' })).type).toBe('ack');
    expect(clients.get('user6')!.closed).toBeUndefined();
    // The same request with everything in order goes through (here: a publish, from system).
    const ok = await withCookie(1, '/admin/api/publish', {
      method: 'POST', body: JSON.stringify({ action: 'news', data: { text: 'from the operator' } }), headers: { ...headers, origin: origin(1) },
    });
    expect(ok.status).toBe(200);
    await clients.get('user2')!.next((f) => f.type === 'message' && f.action === 'news' && f.from?.system === true);
  });

  it('keeps the session on the other node, as behind a load balancer', async () => {
    const page = await operatorContext.newPage();
    recordBodies(page);
    await page.goto(`${origin(1)}/admin`);
    await page.waitForSelector('body[data-state="connected"]', WAIT);
    expect(await page.textContent('#node')).toContain(node(1).nodeId);
    await page.click('#channels [data-channel="news"]');
    await page.waitForSelector('#channel-history .line:has-text("from the operator")', WAIT);
    await page.close();
  });

  it('works through the shipped nginx: the feed streams unbuffered, and an action passes the Origin check behind it', async () => {
    nginx = await startNginx(cluster.nodes.map((n) => n.port));
    await readFeed(`${nginx.url}/admin/api/feed`);
    const { csrf } = (await (await withCookie(0, '/admin/api/session')).json()) as { csrf: string };
    const cookie = (await operatorContext.cookies()).find((c) => c.name === 'gw_operator')!;
    const res = await fetch(`${nginx.url}/admin/api/publish`, {
      method: 'POST', body: JSON.stringify({ action: 'lobby', data: { text: 'through nginx' } }),
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, origin: nginx.url, cookie: `gw_operator=${cookie.value}` },
    });
    expect(res.status).toBe(200);
    await clients.get('user1')!.next((f) => f.type === 'message' && f.action === 'lobby' && f.data?.text === 'through nginx');
  });

  it('sends no access token or API key to the browser: not in storage, not in any response, not in the feed', async () => {
    const storage = await operator.evaluate(() => [Object.keys(localStorage).length, Object.keys(sessionStorage).length, document.cookie]);
    expect(storage).toEqual([0, 0, '']);
    const texts = await Promise.all(bodies);
    expect(texts.length).toBeGreaterThan(5);
    expect(texts.filter((t) => t.startsWith(UNREAD))).toEqual([]);
    // The feed, read as the page reads it.
    const stream = await readFeed(`${origin(0)}/admin/api/feed`);
    for (const text of [...texts, stream]) {
      expect(text).not.toContain(API_KEY);
      for (const t of tokens) expect(text.includes(t.split('.')[2])).toBe(false);
      expect(text).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./); // no JWT of any kind
    }
  });

  it('answers a cursor it never handed out with 400, as /api/online does, not as an outage', async () => {
    const res = await withCookie(0, '/admin/api/online?cursor=forged');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'bad_request' });
  });

  it('signs out on every node', async () => {
    const before = (await operatorContext.cookies())[0].value;
    await operator.click('#signout');
    await operator.waitForSelector('#signin:not([hidden])', WAIT);
    expect((await operatorContext.cookies()).filter((c) => c.value !== '')).toEqual([]);
    for (const i of [0, 1]) expect((await fetch(`${origin(i)}/admin/api/session`, { headers: { cookie: `gw_operator=${before}` } })).status).toBe(401);
  });

  it('limits operator sign-in like /api/login: 429 after the burst, whatever the password, in the same buckets', async () => {
    const { page } = await newPage(false);
    await page.goto(`${origin(0)}/admin`);
    const attempt = async (password: string) => {
      const [res] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/admin/api/signin'), WAIT), signIn(page, 'root', password)]);
      return res.status();
    };
    const statuses: number[] = [];
    for (let i = 1; i <= 8 && statuses.at(-1) !== 429; i += 1) statuses.push(await attempt(`wrong-${i}`));
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    await page.waitForSelector('#signin-message[data-status="429"]', WAIT);
    expect(await page.textContent('#signin-message')).toContain('Too many attempts');
    expect(await attempt(ROOT_PW)).toBe(429); // refused before the password is looked at
    const login = await fetch(`${origin(1)}/api/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'root', password: ROOT_PW }),
    });
    expect(login.status).toBe(429);
    for (const n of cluster.nodes) expect(n.logs.join('\n')).not.toContain('wrong-1');
  });
});
