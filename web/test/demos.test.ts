/**
 * The demos (examples/, issue 7) against a real gateway process: the ticker and the tours
 * publisher run as child processes exactly as `npm run demo:*` runs them; WebSocket clients
 * and the tours dashboard (web/tours.html, in Chromium) see what they publish. The tours state
 * is in every message, so a late joiner with `history: 1` gets the current seats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../gateway/src/users/sqlite.js';
import { TestClient, type Frame } from '../../gateway/test/harness/client.js';
import { spawnGateway, tempDbPath, tokenFor, type GatewayProcess } from '../../gateway/test/harness/gateway.js';
import { parseTours } from '../src/tours-data.js';

const KEY = 'demo-api-key-0123456789abcdef';
const TICKER = fileURLToPath(new URL('../../examples/ticker.mjs', import.meta.url));
const TOURS = fileURLToPath(new URL('../../examples/tours.mjs', import.meta.url));
const WAIT = { timeout: 15_000 };

let gw: GatewayProcess;
let browser: Browser | undefined;
const children: ChildProcess[] = [];
const clients: TestClient[] = [];

interface Run { code: number | null; stdout: string; stderr: string }

/** Run a demo like `npm run demo:*` does, against the test gateway; resolves when it exits. */
function runDemo(script: string, env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH, GATEWAY_URL: gw.http, API_KEY: KEY, INTERVAL_MS: '50', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

async function member(action: string, join: Frame = {}): Promise<{ c: TestClient; ack: Frame }> {
  const c = await TestClient.connect(gw.url, { token: await tokenFor(`watcher-${clients.length}`) });
  clients.push(c);
  return { c, ack: await c.request({ type: 'join', action, ...join }) };
}

/** The dashboard in Chromium, signed in as `tina` through the session the main page keeps. */
async function dashboard(): Promise<Page> {
  const res = await fetch(`${gw.http}/api/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tina', password: 'tours-tours-1' }),
  });
  expect(res.status).toBe(200);
  const session = await res.text();
  browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript((s) => localStorage.setItem('gateway.session', s), session);
  await page.goto(`${gw.http}/tours.html`);
  await page.waitForSelector('body[data-state="connected"]', WAIT);
  return page;
}

beforeAll(async () => {
  const db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  dir.add({ username: 'tina', displayName: 'Tina Tours', password: 'tours-tours-1' });
  dir.close();
  gw = await spawnGateway({ DB_PATH: db, API_KEYS: KEY, HISTORY_ACTIONS: 'tours=1/1h', PRESENCE_GRACE_MS: '0' });
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const c of clients) c.close();
  await browser?.close();
  await gw?.kill('SIGKILL');
});

describe('examples/ticker.mjs', () => {
  it('publishes {value, at} as system messages, COUNT of them, then exits 0', async () => {
    const { c } = await member('ticker');
    const run = await runDemo(TICKER, { COUNT: '3' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    await expect.poll(() => c.messages('ticker').length, WAIT).toBe(3);
    for (const m of c.messages('ticker')) {
      expect(m.from).toEqual({ system: true });
      expect(m.data).toEqual({ value: expect.any(Number), at: expect.any(Number) });
      expect(m.data.value).toBeGreaterThanOrEqual(0);
      expect(m.data.value).toBeLessThanOrEqual(100);
    }
  });

  it('publishes to ACTION, and exits 1 with a clear message without API_KEY or with a refused one', async () => {
    const { c } = await member('prices');
    expect((await runDemo(TICKER, { COUNT: '1', ACTION: 'prices' })).code).toBe(0);
    await expect.poll(() => c.messages('prices').length, WAIT).toBe(1);
    const missing = await runDemo(TICKER, { API_KEY: '' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('API_KEY is required');
    const refused = await runDemo(TICKER, { API_KEY: 'not-the-key-not-the-key', COUNT: '5' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('401');
  });
});

describe('examples/tours.mjs and the dashboard', () => {
  it('says "no state yet" on the dashboard before the demo ran', async () => {
    const page = await dashboard();
    await page.waitForSelector('body[data-tours="empty"]', WAIT);
    expect(await page.textContent('#board-note')).toContain('No state yet');
    await page.context().close();
  });

  it('publishes the full state of three tours with seats going down; late joiners get it from history; the page follows live', async () => {
    const page = await dashboard(); // before the demo: live updates only
    const { c } = await member('tours');
    const run = await runDemo(TOURS, { COUNT: '6' });
    expect(run.code, run.stderr).toBe(0);
    await expect.poll(() => c.messages('tours').length, WAIT).toBe(6);
    const states = c.messages('tours').map((m) => {
      expect(m.from).toEqual({ system: true });
      expect(m.offset).toMatch(/^\d+-\d+$/);
      return parseTours(m.data)!;
    });
    expect(states[0].tours.map((t) => [t.id, t.seats === t.capacity])).toEqual([['alps', true], ['fjords', true], ['sahara', true]]);
    for (let i = 1; i < states.length; i += 1) {
      const sold = states[i].tours.reduce((n, t, j) => n + (states[i - 1].tours[j].seats - t.seats), 0);
      expect(sold).toBeGreaterThan(0);
      expect(states[i].tours.every((t, j) => t.seats <= states[i - 1].tours[j].seats && t.seats >= 0)).toBe(true);
    }
    const current = states.at(-1)!;

    const late = await member('tours', { history: 1 });
    expect(late.ack.result).toMatchObject({ joined: true, delivered: 1 });
    expect(late.c.messages('tours').map((m) => m.data)).toEqual([c.messages('tours').at(-1)!.data]);

    const seatsOn = (p: Page) => p.$$eval('[data-tour]', (nodes) => nodes.map((n) => [n.getAttribute('data-tour'), n.querySelector('.seats')?.textContent]));
    const expected = current.tours.map((t) => [t.id, String(t.seats)]);
    await expect.poll(() => seatsOn(page), WAIT).toEqual(expected); // followed live
    const fresh = await dashboard(); // a new page: the current state from history, on load
    await expect.poll(() => seatsOn(fresh), WAIT).toEqual(expected);
    expect(await fresh.textContent('#board-note')).toBe('');
  });

  it('reads the tours message defensively', () => {
    expect(parseTours({ tours: [{ id: 'a', seats: 2, capacity: 5 }] })).toEqual({ tours: [{ id: 'a', name: 'a', seats: 2, capacity: 5 }] });
    for (const bad of [null, 3, {}, { tours: 'x' }, { tours: [{ id: 'a', seats: -1 }] }, { tours: [{ seats: 1 }] }]) expect(parseTours(bad)).toBeUndefined();
  });
});
