/**
 * The acceptance test of the HTTP streaming fallback: the page in a real Chromium behind a
 * "corporate proxy" that refuses every WebSocket upgrade (403) and round-robins two gateways
 * with no stickiness. The proxy is the shipped deploy/nginx.conf with two changes made here:
 * `location = /ws` answers 403 to any request carrying `Upgrade`, and `least_conn` is gone, so
 * consecutive requests alternate between the nodes (the POSTs of a stream land on the node that
 * does not hold it about half the time, and are forwarded over Redis: answered 202).
 *
 * In order: two users sign in and see each other online, over HTTP; a search round trip; chat
 * both ways; POSTs did cross nodes; the node a page is on is SIGKILLed and both pages come back
 * over HTTP to the survivor and chat again; one browser context closes and the other page sees
 * that user go offline (PRESENCE_GRACE_MS 500). Throughout: no WebSocket ever opened or carried
 * a message (window.WebSocket is counted by an init script), and no token is in any URL Chromium
 * requested, in nginx's access or error log, or (the fixture's teardown) in a gateway's log.
 */
import { request } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../../gateway/test/harness/cluster.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import type { GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';
import { startNginx, type Nginx } from '../nginx.js';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const USERS = {
  alice: { displayName: 'Alice Liddell', password: 'looking-glass-42' },
  bob: { displayName: 'Bob Builder', password: 'can-we-fix-it-7' },
} as const;
const WAIT = { timeout: 15_000 };

/** deploy/nginx.conf as a proxy that refuses WebSockets and round-robins the nodes. */
function corporateProxy(site: string): string {
  const roundRobin = site.replace(/^[ \t]*least_conn;[ \t]*\n/m, '');
  if (roundRobin === site) throw new Error('deploy/nginx.conf has no `least_conn;` line to remove');
  const refusing = roundRobin.replace(/(location = \/ws \{\n)/, '$1        if ($http_upgrade) {\n            return 403;\n        }\n');
  if (refusing === roundRobin) throw new Error('deploy/nginx.conf has no `location = /ws {` block');
  return refusing;
}

/** Runs in every page before its scripts: counts WebSockets created, opened, and their traffic. */
function countWebSockets(): void {
  const Native = window.WebSocket;
  const counts = { created: 0, opened: 0, messages: 0, sent: 0, errors: 0 };
  (window as unknown as { __ws: typeof counts }).__ws = counts;
  class Counted extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      counts.created += 1;
      this.addEventListener('open', () => (counts.opened += 1));
      this.addEventListener('message', () => (counts.messages += 1));
      this.addEventListener('error', () => (counts.errors += 1));
    }

    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      counts.sent += 1;
      super.send(data);
    }
  }
  window.WebSocket = Counted;
}

interface WsCounts { created: number; opened: number; messages: number; sent: number; errors: number }

const fx = gatewayFixture();
let cluster: Cluster;
let nginx: Nginx;
let browser: Browser;
const contexts: BrowserContext[] = [];
/** Every URL Chromium requested (WebSocket upgrades included), from every page. */
const urls: string[] = [];
/** Every token the pages got (login and refresh answers, and what they stored). */
const tokens = new Set<string>();
let ids: Record<string, string>;
let alice: Page;
let bob: Page;
let bobCounts: WsCounts | undefined;
/** Where the pages' part of the access log starts (after the proxy's own checks). */
let logFrom = 0;

const online = (id: string) => `#online-list [data-user-id="${id}"]`;
const result = (id: string) => `#search-results [data-user-id="${id}"]`;
const joined = (room: string) => `#rooms [data-room="${room}"][data-joined="true"]`;

function remember(token: unknown): void {
  if (typeof token !== 'string' || token.length < 20) return;
  tokens.add(token);
  fx.remember(token);
}

async function openPage(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.push(context);
  await context.addInitScript(countWebSockets);
  const page = await context.newPage();
  page.on('request', (r) => urls.push(r.url()));
  page.on('websocket', (ws) => urls.push(ws.url()));
  page.on('response', (r) => {
    if (!/\/api\/(login|refresh)/.test(r.url())) return;
    r.json().then((body: Record<string, unknown>) => {
      for (const v of Object.values(body)) remember(v);
    }, () => {});
  });
  await page.goto(nginx.url);
  return page;
}

async function signIn(page: Page, username: keyof typeof USERS): Promise<void> {
  await page.fill('#username', username);
  await page.fill('#password', USERS[username].password);
  const started = Date.now();
  await page.click('#signin-submit');
  await page.waitForSelector('body[data-state="connected"][data-transport="http"]', WAIT);
  console.log(`${username}: sign-in to a welcome over HTTP in ${Date.now() - started} ms`);
  const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('gateway.session') ?? '{}') as { accessToken?: string });
  expect(stored.accessToken).toBeTruthy();
  remember(stored.accessToken);
}

const counts = (page: Page) => page.evaluate(() => (window as unknown as { __ws: WsCounts }).__ws);
const nodeOf = async (page: Page) => (await page.getAttribute('body', 'data-node')) ?? '';

/** Send `text` from `from` and wait until `to` shows it as someone else's line. */
async function chat(from: Page, to: Page, text: string): Promise<void> {
  await from.fill('#compose', text);
  await from.press('#compose', 'Enter');
  await from.waitForSelector(`#messages .line.mine:has-text("${text}")`, WAIT);
  await to.waitForSelector(`#messages .line:not(.mine):has-text("${text}")`, WAIT);
}

/** Access-log lines of `POST /http/send` by status (the shipped log format: `"METHOD uri proto" status`). */
function sendStatuses(): Record<string, number> {
  const by: Record<string, number> = {};
  for (const m of nginx.accessLog().slice(logFrom).matchAll(/"POST \/http\/send HTTP\/[\d.]+" (\d{3}) /g)) by[m[1]] = (by[m[1]] ?? 0) + 1;
  return by;
}

/** What the proxy answers a WebSocket upgrade of /ws (fetch cannot send `Upgrade`: node:http). */
function upgradeStatus(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${nginx.url}/ws`, {
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      timeout: 5000,
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 101);
    });
    req.on('timeout', () => req.destroy(new Error('no answer to the upgrade')));
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  cluster = await startCluster(fx, 'fallback', {
    nodes: 2,
    users: Object.entries(USERS).map(([username, u]) => ({ username, ...u })),
    // A short presence lease, so the killed node's share is reaped within seconds; a short grace,
    // so a closed page is offline within a second.
    env: { TRUSTED_PROXIES: '127.0.0.1', PRESENCE_GRACE_MS: '500', PRESENCE_LEASE_MS: '2000', PRESENCE_BATCH_MS: '10' },
  });
  ids = cluster.ids;
  nginx = await startNginx(cluster.nodes.map((g) => g.port), { transform: corporateProxy });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}, 30_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await nginx?.stop();
  await cluster?.stop(); // the fixture's teardown: no token the pages got is in a gateway's log
});

describe('the page behind a proxy that refuses WebSockets', () => {
  it('is a proxy that refuses upgrades and alternates the nodes', async () => {
    expect(await upgradeStatus()).toBe(403);
    // A stream of its own through the proxy, then four pings for it: the node holding it answers
    // 204, the other one forwards them and answers 202 once they were taken.
    const stop = new AbortController();
    const res = await fetch(`${nginx.url}/http/stream`, { headers: { authorization: `Bearer ${await fx.mint('proxy-probe')}` }, signal: stop.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    for (let n = 0; n < 50 && !/event: session\ndata: .*\n/.test(text); n += 1) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    const session = JSON.parse(/event: session\ndata: (.*)\n/.exec(text)![1]) as { id: string; key: string };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      const post = await fetch(`${nginx.url}/http/send`, {
        method: 'POST', headers: { 'x-stream-id': session.id, 'x-stream-key': session.key }, body: `{"type":"ping","id":${i}}`,
      });
      statuses.push(post.status);
    }
    stop.abort();
    expect(statuses.filter((s) => s === 204).length, `four POSTs in a row answered ${statuses.join(', ')}`).toBe(2);
    expect(statuses.filter((s) => s === 202).length, `four POSTs in a row answered ${statuses.join(', ')}`).toBe(2);
    logFrom = nginx.accessLog().length;
  });

  it('signs both users in over HTTP streaming, each sees the other online', async () => {
    alice = await openPage();
    await signIn(alice, 'alice');
    bob = await openPage();
    await signIn(bob, 'bob');
    for (const page of [alice, bob]) {
      expect(await page.textContent('#node')).toContain('(HTTP fallback)');
      expect(await page.getAttribute('body', 'data-transport')).toBe('http');
    }
    await alice.waitForSelector(online(ids.bob), WAIT);
    await bob.waitForSelector(online(ids.alice), WAIT);
    // The upgrades were tried, and refused by the proxy.
    for (const page of [alice, bob]) {
      const c = await counts(page);
      expect(c.created, 'the page tried a WebSocket first').toBeGreaterThanOrEqual(1);
      expect(c.opened).toBe(0);
    }
    expect(nginx.accessLog()).toMatch(/"GET \/ws HTTP\/1\.1" 403 /);
  });

  it('answers a directory search', async () => {
    await bob.fill('#search-q', 'ali');
    await bob.waitForSelector(`${result(ids.alice)} .badge.on`, WAIT);
    await alice.fill('#search-q', 'bob');
    await alice.waitForSelector(`${result(ids.bob)} .badge.on`, WAIT);
    expect(await alice.textContent(`${result(ids.bob)} .name`)).toBe('Bob Builder');
  });

  it('delivers chat both ways, its POSTs answered by either node', async () => {
    for (const page of [alice, bob]) {
      await page.fill('#room', 'lobby');
      await page.press('#room', 'Enter');
      await page.waitForSelector(joined('lobby'), WAIT);
    }
    await chat(alice, bob, 'Hello from Alice over HTTP');
    await chat(bob, alice, 'Hi Alice, no WebSocket here');
    await chat(alice, bob, 'Round and round');
    // 204: the POST reached the node holding the stream; 202: the other node took it and
    // forwarded it over Redis. Round-robin gives both within a few POSTs.
    await waitFor('a POST /http/send forwarded (202) and one taken in place (204) in the access log', () => {
      const s = sendStatuses();
      return (s['202'] ?? 0) > 0 && (s['204'] ?? 0) > 0;
    }, 10_000, 50).catch(() => undefined);
    const s = sendStatuses();
    expect(s['202'] ?? 0, `POST /http/send statuses: ${JSON.stringify(s)}`).toBeGreaterThan(0);
    expect(s['204'] ?? 0, `POST /http/send statuses: ${JSON.stringify(s)}`).toBeGreaterThan(0);
    expect(Object.keys(s).filter((k) => k !== '202' && k !== '204'), `POST /http/send statuses: ${JSON.stringify(s)}`).toEqual([]);
  });

  it('comes back over HTTP through the other node when its node is SIGKILLed, and chats again', async () => {
    const doomed = await nodeOf(alice);
    const victim = cluster.nodes.find((g) => g.nodeId === doomed);
    expect(victim, `alice's page reports node "${doomed}"`).toBeDefined();
    const survivor = cluster.nodes.find((g) => g !== victim) as GatewayProcess;
    console.log(`pages on ${await nodeOf(alice)} (alice) and ${await nodeOf(bob)} (bob); SIGKILL ${doomed}`);
    const killed = Date.now();
    await victim!.kill('SIGKILL');
    for (const page of [alice, bob]) {
      await page.waitForFunction((node) => document.body.dataset.state === 'connected' && document.body.dataset.node === node
        && document.body.dataset.transport === 'http', survivor.nodeId, WAIT);
      await page.waitForSelector(joined('lobby'), WAIT);
      expect(await page.textContent('#node')).toContain('(HTTP fallback)');
    }
    console.log(`both pages welcomed by ${survivor.nodeId} over HTTP ${Date.now() - killed} ms after the SIGKILL`);
    await alice.waitForSelector(online(ids.bob), WAIT);
    await bob.waitForSelector(online(ids.alice), WAIT);
    await chat(bob, alice, 'Still here after the crash');
    await chat(alice, bob, 'Me too, still over HTTP');
  });

  it('shows a user whose page closed as offline on the other page', async () => {
    bobCounts = await counts(bob);
    const closed = Date.now();
    await bob.context().close();
    await alice.waitForSelector(online(ids.bob), { state: 'detached', ...WAIT });
    const took = Date.now() - closed;
    console.log(`bob offline on alice's page ${took} ms after his context closed (grace 500 ms)`);
    expect(await alice.getAttribute('body', 'data-state')).toBe('connected');
  });

  it('never opened a WebSocket nor put a token in a URL or in the proxy logs', async () => {
    const aliceCounts = await counts(alice);
    for (const [who, c] of [['alice', aliceCounts], ['bob', bobCounts!]] as const) {
      expect(c.created, `${who}: ${JSON.stringify(c)}`).toBeGreaterThanOrEqual(1);
      expect(c.opened, `${who}: ${JSON.stringify(c)}`).toBe(0);
      expect(c.messages, `${who}: ${JSON.stringify(c)}`).toBe(0);
      expect(c.sent, `${who}: ${JSON.stringify(c)}`).toBe(0);
    }
    expect(tokens.size).toBeGreaterThanOrEqual(2);
    expect(urls.length).toBeGreaterThan(10);
    expect(urls.some((u) => u.includes('/http/stream'))).toBe(true);
    const signature = (t: string) => t.split('.')[2] ?? t;
    const logs = { access: nginx.accessLog(), error: nginx.errorLog() };
    expect(logs.access).toContain('/http/stream');
    for (const t of tokens) {
      for (const u of urls) expect(u.includes(t) || u.includes(signature(t)), `a token in the URL ${u}`).toBe(false);
      for (const [name, text] of Object.entries(logs)) expect(text.includes(t) || text.includes(signature(t)), `a token in nginx's ${name} log`).toBe(false);
    }
    expect(urls.filter((u) => /token=/i.test(u))).toEqual([]);
    for (const [name, text] of Object.entries(logs)) expect(/token=/i.test(text), `token= in nginx's ${name} log`).toBe(false);
  });
});
