/**
 * The React bindings (@realtime-gateway/client/react) in a real Chromium against a real gateway
 * process (API_KEYS set, deploy/channels.example.json):
 *
 * - A React 19 app written as a user would (TSX in a temporary folder) on the package as users
 *   get it: `npm pack ./client`, the tarball installed offline into a fresh app, react and
 *   react-dom linked from the repository's node_modules (no network), bundled with esbuild
 *   (development React, so <StrictMode> really mounts, unmounts and mounts every effect again)
 *   and served with its HTML by a small HTTP server of this file. The gateway's URL and a token
 *   reach the app in the body of /config.json, never in a URL. Checked: the connection state
 *   reaches `connected`; the online set shows the users connected; 20 messages published by a
 *   backend arrive once each and in order; the socket sent exactly one join for the channel and
 *   no leave while mounted (StrictMode), and the gateway lists the channel with one member while
 *   the component is mounted and not after it unmounts; nothing thrown, no console error. And
 *   the core entry does not grow with React: its bundle holds no React and stays in the budget.
 * - The example page (examples/react/, built into dist/web/ and served by the gateway at
 *   /react.html under its strict CSP), signed in through the main page's stored session, fed by
 *   examples/tours-panels.mjs: every panel shows its own channel's data, live and from history.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import buildDist from '../../../gateway/test/harness/build.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { SIZE_BUDGET_GZIP } from '../../../client/test/size.js';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const NAME = '@realtime-gateway/client';
/** client/build.mjs holds it while it writes client/dist/: packing under it never reads a half-built dist/. */
const CLIENT_LOCK = join(repo, 'client', '.build-lock');
const CHANNELS = join(repo, 'deploy', 'channels.example.json');
const PANELS = join(repo, 'examples', 'tours-panels.mjs');
const API_KEY = 'react-api-key-0123456789abcdef';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = { timeout: 15_000 };
/** The environment without the npm_* variables of an outer `npm test`, so the inner npm runs on its defaults. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

/** The app, as a user writes it. The `mounts` counter is the test's probe: StrictMode really ran the effects twice. */
const APP_TSX = `
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { RealtimeClient } from '${NAME}';
import { RealtimeProvider, useChannel, useConnectionState, usePresence } from '${NAME}/react';

function Ticker() {
  const [values, setValues] = useState<unknown[]>([]);
  useChannel('ticker', (m) => setValues((list) => [...list, m.data]));
  useEffect(() => {
    (window as any).mounts = ((window as any).mounts ?? 0) + 1;
  }, []);
  return <ul id="ticker">{values.map((v, i) => <li key={i}>{String(v)}</li>)}</ul>;
}

function App() {
  const state = useConnectionState();
  const online = usePresence();
  const [ticker, setTicker] = useState(true);
  return (
    <main data-state={state}>
      <p id="state">{state}</p>
      <ul id="online">{[...online].sort().map((id) => <li key={id}>{id}</li>)}</ul>
      <button id="toggle" onClick={() => setTicker((on) => !on)}>{ticker ? 'Hide' : 'Show'} the ticker</button>
      {ticker && <Ticker />}
    </main>
  );
}

const { url, token } = await (await fetch('/config.json')).json();
const client = new RealtimeClient(url, { token });
client.connect().catch(() => {});
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <RealtimeProvider client={client}>
      <App />
    </RealtimeProvider>
  </StrictMode>,
);
`;
const APP_HTML = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">' +
  '<script type="module" src="/app.js"></script></head><body><div id="root"></div></body></html>';

interface Ran { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr: err && code === null ? `${stderr}\n${err.message}` : stderr });
    });
  });
}

async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Installed before any script of a page: every frame its WebSockets send, as text. */
function recordSentFrames(): void {
  const w = window as unknown as { WebSocket: typeof WebSocket; sentFrames: string[] };
  const Native = w.WebSocket;
  w.sentFrames = [];
  w.WebSocket = class extends Native {
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      w.sentFrames.push(String(data));
      super.send(data);
    }
  };
}

/** Page errors and console errors of every page of a context. */
function collectErrors(context: BrowserContext): string[] {
  const errors: string[] = [];
  context.on('page', (page) => {
    page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
    });
  });
  return errors;
}

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let gw: GatewayProcess;
let db: string;
let browser: Browser;
let temp: string;
let app: string;
let server: Server;
let origin: string;
let appBundle: { code: string; inputs: string[] };
const contexts: BrowserContext[] = [];
const children: ChildProcess[] = [];
/** The token the app gets from /config.json (set by the test before the page loads). */
let appToken = '';

/** The tarball installed into a fresh app, react and react-dom linked in, the app bundled. */
async function prepareApp(): Promise<void> {
  temp = mkdtempSync(join(tmpdir(), 'rtg-react-'));
  app = join(temp, 'app');
  const { withLock } = (await import(pathToFileURL(join(repo, 'scripts', 'build-lock.mjs')).href)) as {
    withLock: <T>(path: string, fn: () => Promise<T>) => Promise<T>;
  };
  // --ignore-scripts: client/dist/ is built (globalSetup); prepack would build it again.
  const out = await withLock(CLIENT_LOCK, () => ok('npm', ['pack', './client', '--pack-destination', temp, '--json', '--ignore-scripts'], repo));
  const [{ filename }] = JSON.parse(out) as Array<{ filename: string }>;
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'react-app', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
  await ok('npm', ['install', join(temp, filename), '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], app);
  // After the install (npm would prune them): the repository's copies, no network.
  for (const name of ['react', 'react-dom', 'scheduler']) symlinkSync(join(repo, 'node_modules', name), join(app, 'node_modules', name), 'dir');
  writeFileSync(join(app, 'app.tsx'), APP_TSX);
  const result = await build({
    entryPoints: [join(app, 'app.tsx')],
    absWorkingDir: app,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    jsx: 'automatic',
    minify: true,
    // Development React: StrictMode's double effects exist only there (minify alone means production).
    define: { 'process.env.NODE_ENV': '"development"' },
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const [output] = Object.values(result.metafile.outputs);
  appBundle = { code: result.outputFiles[0].text, inputs: Object.keys(output.inputs) };
}

/** The app's own server: the page, its bundle, and /config.json (the gateway's URL and the token, in a body). */
async function serveApp(): Promise<void> {
  server = createServer((req, res) => {
    const send = (type: string, body: string) => {
      res.writeHead(200, {
        'content-type': type, 'cache-control': 'no-store',
        // As strict as the gateway's own pages: scripts from this origin only, no inline script.
        'content-security-policy': `default-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:${gw.port}`,
      });
      res.end(body);
    };
    if (req.url === '/') send('text/html; charset=utf-8', APP_HTML);
    else if (req.url === '/app.js') send('text/javascript; charset=utf-8', appBundle.code);
    else if (req.url === '/config.json') send('application/json', JSON.stringify({ url: gw.url, token: appToken }));
    else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function newPage(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext();
  contexts.push(context);
  const errors = collectErrors(context);
  await context.addInitScript(recordSentFrames);
  return { page: await context.newPage(), errors };
}

async function publish(action: string, data: unknown): Promise<void> {
  const res = await fetch(`${gw.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, data }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

/** GET /api/channels?prefix=…: the actions with members, and their user counts. */
async function channels(prefix: string): Promise<Array<{ action: string; members: number }>> {
  const res = await fetch(`${gw.http}/api/channels?prefix=${encodeURIComponent(prefix)}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { channels: Array<{ action: string; members: number }> }).channels;
}

interface Frame { type: string; action?: string; joins?: Array<{ action: string }> }
async function sentFrames(page: Page): Promise<Frame[]> {
  return (await page.evaluate(() => (window as unknown as { sentFrames: string[] }).sentFrames)).map((f) => JSON.parse(f) as Frame);
}
const joinsOf = (frames: Frame[], action: string) =>
  frames.flatMap((f) => (f.type === 'join' ? [f.action] : f.type === 'joins' ? f.joins!.map((j) => j.action) : [])).filter((a) => a === action).length;
const leavesOf = (frames: Frame[], action: string) => frames.filter((f) => f.type === 'leave' && f.action === action).length;

beforeAll(async () => {
  buildDist(); // dist/ (and client/dist/, dist/web/react.html) from these sources; a no-op when fresh
  db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  dir.add({ username: 'tina', displayName: 'Tina Tours', password: 'tours-tours-1' });
  dir.close();
  const started = Date.now();
  [gw, browser] = await Promise.all([
    fx.gateway({ DB_PATH: db, API_KEYS: API_KEY, CHANNELS_FILE: CHANNELS, PRESENCE_GRACE_MS: '0', PRESENCE_BATCH_MS: '10' }),
    chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS }),
    prepareApp(),
  ]);
  await serveApp();
  console.log(`react: packed, installed and bundled the app, gateway and Chromium up in ${Date.now() - started} ms`);
}, 120_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  await fx.teardown(); // clients and the gateway; then no token of this file in its log
  if (temp) rmSync(temp, { recursive: true, force: true });
  if (db) rmSync(dirname(db), { recursive: true, force: true });
});

describe('a React 19 app on the packed @realtime-gateway/client/react, under StrictMode', () => {
  it('connects, shows who is online, gets 20 backend messages once each in order, joins once and leaves when unmounted', async () => {
    appToken = await fx.mint('ada');
    const { page, errors } = await newPage();
    await page.goto(origin);
    await page.waitForSelector('main[data-state="connected"]', WAIT);
    expect(await page.textContent('#state')).toBe('connected');

    // Presence: the app's own user, then another user connecting and leaving, live.
    const online = () => page.$$eval('#online li', (lis) => lis.map((li) => li.textContent));
    await expect.poll(online, WAIT).toEqual(['ada']);
    const bob = await fx.connect(gw, 'bob');
    await expect.poll(online, WAIT).toEqual(['ada', 'bob']);
    bob.close();
    await expect.poll(online, WAIT).toEqual(['ada']);

    // Mounted: the gateway has the channel, with the app's user as its one member.
    await expect.poll(() => channels('ticker'), WAIT).toEqual([{ action: 'ticker', members: 1 }]);
    for (let n = 1; n <= 20; n += 1) await publish('ticker', n);
    const ticker = () => page.$$eval('#ticker li', (lis) => lis.map((li) => li.textContent));
    await expect.poll(async () => (await ticker()).at(-1), WAIT).toBe('20');
    expect(await ticker()).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1))); // once each, in order

    // StrictMode mounted the component twice (development React), yet one join and no leave went
    // out (this first mount usually precedes the welcome; the remount below is on the live connection).
    expect(await page.evaluate(() => (window as unknown as { mounts: number }).mounts)).toBe(2);
    let frames = await sentFrames(page);
    expect(joinsOf(frames, 'ticker'), JSON.stringify(frames)).toBe(1);
    expect(leavesOf(frames, 'ticker'), JSON.stringify(frames)).toBe(0);

    // Unmounted: one leave, and the gateway no longer has the channel.
    await page.click('#toggle');
    await page.waitForSelector('#ticker', { state: 'detached', ...WAIT });
    await expect.poll(() => channels('ticker'), WAIT).toEqual([]);
    frames = await sentFrames(page);
    expect([joinsOf(frames, 'ticker'), leavesOf(frames, 'ticker')]).toEqual([1, 1]);

    // Mounted again, on the live connection (StrictMode: mount, unmount, mount): exactly one more
    // join frame and no leave; live from there, each message once.
    await page.click('#toggle');
    await expect.poll(() => channels('ticker'), WAIT).toEqual([{ action: 'ticker', members: 1 }]);
    expect(await page.evaluate(() => (window as unknown as { mounts: number }).mounts)).toBe(4);
    await publish('ticker', 21);
    await publish('ticker', 22);
    await expect.poll(ticker, WAIT).toEqual(['21', '22']);
    frames = await sentFrames(page);
    expect([joinsOf(frames, 'ticker'), leavesOf(frames, 'ticker')], JSON.stringify(frames)).toEqual([2, 1]);
    expect(await page.textContent('#state')).toBe('connected');
    expect(errors).toEqual([]);
  });

  it('leaves the core entry as it was: no React in its bundle, within the size budget; the app holds one React and one client', async () => {
    const installed = join(app, 'node_modules', ...NAME.split('/'));
    for (const file of ['index.mjs', 'index.cjs']) {
      expect(readFileSync(join(installed, 'dist', file), 'utf8')).not.toMatch(/from\s*["']react["']|require\(\s*["']react["']\s*\)/);
    }
    // The React entry imports react, and only types of the core: RealtimeClient is not in it.
    const reactEntry = readFileSync(join(installed, 'dist', 'react.mjs'), 'utf8');
    expect(reactEntry).toMatch(/from\s*["']react["']/);
    expect(reactEntry).not.toMatch(/class RealtimeClient/);

    const core = await build({
      stdin: { contents: `import { RealtimeClient } from '${NAME}';\nexport const client = new RealtimeClient('wss://example.test/ws', { token: 't' });\n`, resolveDir: app, loader: 'js' },
      absWorkingDir: app, bundle: true, format: 'esm', platform: 'browser', target: 'es2020', minify: true, legalComments: 'none',
      metafile: true, write: false, logLevel: 'silent',
    });
    const code = core.outputFiles[0].contents;
    const gzip = gzipSync(code, { level: 9 }).length;
    console.log(`core entry in an app bundle: ${code.length} B minified, ${gzip} B gzip (budget ${SIZE_BUDGET_GZIP} B); the React app: ${appBundle.code.length} B (development React)`);
    expect(Object.keys(core.metafile.inputs)).toEqual(['node_modules/@realtime-gateway/client/dist/index.mjs', '<stdin>']);
    expect(core.outputFiles[0].text).not.toMatch(/react/i);
    expect(gzip).toBeLessThanOrEqual(SIZE_BUDGET_GZIP);

    // The app: the installed package's two entries, and React from one place.
    const pkgInputs = appBundle.inputs.filter((p) => p.includes('@realtime-gateway/client'));
    expect(pkgInputs.sort()).toEqual(['node_modules/@realtime-gateway/client/dist/index.mjs', 'node_modules/@realtime-gateway/client/dist/react.mjs']);
    const reacts = appBundle.inputs.filter((p) => /(^|\/)react\/cjs\/react\.development\.js$/.test(p));
    expect(reacts).toHaveLength(1);
  });
});

describe('the example page (examples/react/) at /react.html', () => {
  /** Run examples/tours-panels.mjs like `npm run demo:react` does, against this gateway; resolves when it exits. */
  function runPanels(count: number): Promise<Ran> {
    const child = spawn(process.execPath, [PANELS], {
      env: { PATH: process.env.PATH, GATEWAY_URL: gw.http, API_KEY, INTERVAL_MS: '50', COUNT: String(count) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += String(d)));
    child.stderr!.on('data', (d) => (stderr += String(d)));
    return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
  }

  it('shows each panel its own channel, live and from history, with the badge connected and the user online', async () => {
    const res = await fetch(`${gw.http}/api/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tina', password: 'tours-tours-1' }),
    });
    expect(res.status).toBe(200);
    const session = await res.text();
    const { accessToken, user } = JSON.parse(session) as { accessToken: string; user: { id: string } };
    fx.remember(accessToken);
    const { page, errors } = await newPage();
    // The session the main page (/) keeps after signing in; the token never goes in a URL.
    await page.addInitScript((s) => localStorage.setItem('gateway.session', s), session);
    await page.goto(`${gw.http}/react.html`);
    await page.waitForSelector('.badge[data-state="connected"]', WAIT);
    await page.waitForSelector(`.online [data-user-id="${user.id}"]:has-text("Tina Tours (you)")`, WAIT);
    await expect.poll(() => page.$$eval('.tour .note', (ns) => ns.map((n) => n.textContent)), WAIT)
      .toEqual(Array(3).fill('No state yet: start npm run demo:react.'));
    await expect.poll(() => channels('live:tour-'), WAIT).toHaveLength(4); // three tours and the sales, joined

    // The publisher: every tour's state, then three sales, each on its channel.
    const ran = await runPanels(4);
    expect(ran.code, ran.stderr).toBe(0);
    const lines = ran.stdout.trim().split('\n');
    const last = (id: string) => lines.filter((l) => l.startsWith(`live:tour-${id} ← `)).at(-1)!.split(' ← ')[1].split(' ')[0].split('/')[0];
    const expected = ['alps', 'fjords', 'sahara'].map((id) => [id, last(id)]);
    const sales = lines.filter((l) => l.startsWith('live:tour-sales ← ')).map((l) => l.split(' ← ')[1].split('  ')[0]);
    expect(sales).toHaveLength(3);

    const seats = (p: Page) => p.$$eval('[data-tour]', (ns) => ns.map((n) => [n.getAttribute('data-tour'), n.querySelector('.seats .n')?.textContent]));
    const saleLines = (p: Page) => p.$$eval('.sales-list li .sold', (ns) => ns.map((n) => n.textContent));
    const saleOf = (line: string) => { // "2 × alps" → "2 × Alps trek"
      const [n, id] = line.split(' × ');
      return `${n} × ${{ alps: 'Alps trek', fjords: 'Fjords by boat', sahara: 'Sahara nights' }[id]}`;
    };
    await expect.poll(() => seats(page), WAIT).toEqual(expected); // live
    await expect.poll(() => saleLines(page), WAIT).toEqual(sales.map(saleOf).reverse()); // newest first

    // A new load: each panel's current state from its channel's history (the last message).
    await page.reload();
    await page.waitForSelector('.badge[data-state="connected"]', WAIT);
    await expect.poll(() => seats(page), WAIT).toEqual(expected);
    await expect.poll(() => saleLines(page), WAIT).toEqual([saleOf(sales.at(-1)!)]);
    expect(errors).toEqual([]);
  });

  it('says so without a session, and offers the sign-in', async () => {
    const { page, errors } = await newPage();
    await page.goto(`${gw.http}/react.html`);
    await page.waitForSelector('[data-signed-out]:has-text("You are not signed in.")', WAIT);
    expect(await page.getAttribute('[data-signed-out] a', 'href')).toBe('/');
    expect(errors).toEqual([]);
  });
});

