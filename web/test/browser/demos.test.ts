/**
 * The demos (examples/, issue 7) against a real gateway process started as the README says
 * (CHANNELS_FILE=deploy/channels.example.json): the ticker and the tours publisher run as child
 * processes exactly as `npm run demo:*` runs them, to `live:ticker` and `live:tours`; WebSocket
 * clients and the tours dashboard (web/tours.html, in Chromium) see what they publish. The
 * tours state is in every message, so a late joiner with `history: 1` gets the current seats.
 * Users cannot publish there (`live` takes backend publishes only); on a gateway where they
 * can (no channels file), the dashboard still believes only `from.system` state. The
 * dashboard's client (web/src/client.ts, in Node) re-joins from its position after drops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../../gateway/src/users/sqlite.js';
import { WebSocket } from 'ws';
import { TestClient, type Frame } from '../../../gateway/test/harness/client.js';
import { spawnGateway, tempDbPath, tokenFor, type GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';
import { RealtimeClient, type ChannelEvents, type SocketLike } from '../../../client/src/index.js';
import { parseTours } from '../../src/tours-data.js';

const KEY = 'demo-api-key-0123456789abcdef';
const TICKER = fileURLToPath(new URL('../../../examples/ticker.mjs', import.meta.url));
const TOURS = fileURLToPath(new URL('../../../examples/tours.mjs', import.meta.url));
const CHANNELS = fileURLToPath(new URL('../../../deploy/channels.example.json', import.meta.url));
const WAIT = { timeout: 15_000 };

let gw: GatewayProcess;
/** A gateway without the channels file: any member may publish to `live:tours` there. */
let open: GatewayProcess;
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

/** POST /api/publish to `action` on `on`. */
async function publishApi(action: string, data: unknown, on = gw): Promise<void> {
  const res = await fetch(`${on.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, data }),
  });
  expect(res.status).toBe(200);
}

async function member(action: string, join: Frame = {}, on = gw): Promise<{ c: TestClient; ack: Frame }> {
  const c = await TestClient.connect(on.url, { token: await tokenFor(`watcher-${clients.length}`) });
  clients.push(c);
  return { c, ack: await c.request({ type: 'join', action, ...join }) };
}

/** The dashboard in Chromium, signed in as `tina` through the session the main page keeps. */
async function dashboard(on = gw): Promise<Page> {
  const res = await fetch(`${on.http}/api/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tina', password: 'tours-tours-1' }),
  });
  expect(res.status).toBe(200);
  const session = await res.text();
  browser ??= await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await (await browser.newContext()).newPage();
  await page.addInitScript((s) => localStorage.setItem('gateway.session', s), session);
  await page.goto(`${on.http}/tours.html`);
  await page.waitForSelector('body[data-state="connected"]', WAIT);
  return page;
}

beforeAll(async () => {
  const db = tempDbPath();
  const dir = new SqliteUserDirectory(db);
  dir.add({ username: 'tina', displayName: 'Tina Tours', password: 'tours-tours-1' });
  dir.close();
  [gw, open] = await Promise.all([
    spawnGateway({ DB_PATH: db, API_KEYS: KEY, CHANNELS_FILE: CHANNELS, PRESENCE_GRACE_MS: '0' }),
    spawnGateway({ DB_PATH: db, API_KEYS: KEY, HISTORY_ACTIONS: 'live:tours=1/1h', PRESENCE_GRACE_MS: '0' }),
  ]);
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const c of clients) c.close();
  await browser?.close();
  await Promise.all([gw?.kill('SIGKILL'), open?.kill('SIGKILL')]);
});

describe('examples/ticker.mjs', () => {
  it('publishes {value, at} to live:ticker as system messages, COUNT of them, then exits 0', async () => {
    const { c } = await member('live:ticker');
    const run = await runDemo(TICKER, { COUNT: '3' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(3);
    await expect.poll(() => c.messages('live:ticker').length, WAIT).toBe(3);
    for (const m of c.messages('live:ticker')) {
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
    const { c } = await member('live:tours');
    const run = await runDemo(TOURS, { COUNT: '6' });
    expect(run.code, run.stderr).toBe(0);
    await expect.poll(() => c.messages('live:tours').length, WAIT).toBe(6);
    const states = c.messages('live:tours').map((m) => {
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

    const late = await member('live:tours', { history: 1 });
    expect(late.ack.result).toMatchObject({ joined: true, delivered: 1, offset: c.messages('live:tours').at(-1)!.offset, epoch: expect.any(String) });
    expect(late.c.messages('live:tours').map((m) => m.data)).toEqual([c.messages('live:tours').at(-1)!.data]);

    const seatsOn = (p: Page) => p.$$eval('[data-tour]', (nodes) => nodes.map((n) => [n.getAttribute('data-tour'), n.querySelector('.seats')?.textContent]));
    const expected = current.tours.map((t) => [t.id, String(t.seats)]);
    await expect.poll(() => seatsOn(page), WAIT).toEqual(expected); // followed live
    const fresh = await dashboard(); // a new page: the current state from history, on load
    await expect.poll(() => seatsOn(fresh), WAIT).toEqual(expected);
    expect(await fresh.textContent('#board-note')).toBe('');
  });

  it('refuses a user publish on live (backend only); where users can publish, the dashboard ignores their fake state', async () => {
    const { c: mallory } = await member('live:tours');
    const refused = await mallory.request({ type: 'publish', action: 'live:tours', data: { tours: [] } });
    expect(refused).toMatchObject({ type: 'error', code: 'forbidden', message: expect.stringContaining('backend') });

    const real = (seats: number) => ({ tours: [{ id: 'alps', name: 'Alps trek', seats, capacity: 12 }], at: Date.now() });
    const fake = { tours: [{ id: 'fake', name: 'Sold out (not really)', seats: 0, capacity: 12 }] };
    const api = (data: unknown) => publishApi('live:tours', data, open);
    const page = await dashboard(open);
    await page.evaluate(() => {
      const w = window as unknown as { sawFake: boolean };
      w.sawFake = false;
      new MutationObserver(() => (w.sawFake ||= document.querySelector('[data-tour="fake"]') !== null))
        .observe(document.getElementById('tours')!, { childList: true, subtree: true });
    });
    const seats = () => page.$$eval('[data-tour]', (nodes) => nodes.map((n) => `${n.getAttribute('data-tour')} ${n.querySelector('.seats')?.textContent}`));
    await api(real(9));
    await expect.poll(seats, WAIT).toEqual(['alps 9']);
    const { c: user } = await member('live:tours', {}, open);
    expect(await user.request({ type: 'publish', action: 'live:tours', data: fake })).toMatchObject({ type: 'ack' });
    await api(real(7)); // after the fake in the stream: once it shows, the page has seen the fake
    await expect.poll(seats, WAIT).toEqual(['alps 7']);
    expect(await page.evaluate(() => (window as unknown as { sawFake: boolean }).sawFake)).toBe(false);

    // The fake as the last message: a dashboard joining with history: 1 shows no state, not the fake.
    expect(await user.request({ type: 'publish', action: 'live:tours', data: fake })).toMatchObject({ type: 'ack' });
    const fresh = await dashboard(open);
    await fresh.waitForSelector('body[data-tours="empty"]', WAIT);
    expect(await fresh.$$('[data-tour]')).toHaveLength(0);
  });
});

describe("the dashboard's client (the client package) on this gateway", () => {
  it('re-joins live:tours from the position of its join ack: exactly the update it missed; history: 1 again once the gap is gone', async () => {
    /** A WebSocket that opens only once `gate` is open: the test publishes in the gap before a reconnect. */
    const sockets: Gated[] = [];
    let gate = Promise.resolve();
    let open!: () => void;
    class Gated implements SocketLike {
      onopen: ((ev: any) => void) | null = null;
      onmessage: ((ev: any) => void) | null = null;
      onclose: ((ev: any) => void) | null = null;
      onerror: ((ev: any) => void) | null = null;
      ws: WebSocket | undefined;
      readonly sent: Frame[] = [];
      constructor(url: string, protocols?: string | string[]) {
        sockets.push(this);
        void gate.then(() => {
          const ws = (this.ws = new WebSocket(url, protocols));
          ws.onopen = (ev) => this.onopen?.(ev);
          ws.onmessage = (ev) => this.onmessage?.(ev);
          ws.onclose = (ev) => this.onclose?.(ev);
          ws.onerror = (ev) => this.onerror?.(ev);
        });
      }
      send(data: string): void {
        this.sent.push(JSON.parse(data));
        this.ws?.send(data);
      }
      close(code?: number, reason?: string): void {
        this.ws?.close(code, reason);
      }
    }
    const token = await tokenFor('dashboard-client');
    const client = new RealtimeClient(gw.url, { token, WebSocket: Gated, random: () => 0 });
    const tours = client.channel('live:tours');
    const data: unknown[] = [];
    const joins: Array<ChannelEvents['joined']> = [];
    const unrecovered: Array<ChannelEvents['unrecovered']> = [];
    tours.on('message', (m) => data.push(m.data));
    tours.on('joined', (j) => joins.push(j));
    tours.on('unrecovered', (u) => unrecovered.push(u));
    const dropWhile = async (publish: () => Promise<void>) => {
      gate = new Promise<void>((resolve) => (open = resolve));
      const before = sockets.length;
      sockets.at(-1)!.ws!.terminate(); // abrupt: the client sees 1006
      await waitFor('the next attempt', () => sockets.length > before, 10_000);
      await publish();
      open();
      await waitFor('a new link', () => client.state === 'connected', 10_000);
    };
    try {
      await client.connect();
      const first = await tours.join({ history: 1 });
      expect(first).toMatchObject({ joined: true, delivered: 1, offset: expect.stringMatching(/^\d+-\d+$/), epoch: expect.any(String) });
      expect(data).toHaveLength(1); // the current state, from history

      await dropWhile(() => publishApi('live:tours', { tours: [], at: 1 }));
      await waitFor('the re-join', () => joins.length === 2, 10_000);
      expect(sockets.at(-1)!.sent.find((f) => f.type === 'joins')?.joins).toEqual([{ action: 'live:tours', since: first.offset, epoch: first.epoch }]);
      expect(joins[1].result).toMatchObject({ recovered: true, delivered: 1 });
      expect(data.slice(1)).toEqual([{ tours: [], at: 1 }]); // exactly the update missed

      await dropWhile(async () => {
        await publishApi('live:tours', { tours: [], at: 2 });
        await publishApi('live:tours', { tours: [], at: 3 }); // history keeps 1: the gap is gone
      });
      await waitFor('the reload with history: 1', () => joins.length === 4, 10_000);
      expect(joins[2].result).toMatchObject({ recovered: false });
      expect(unrecovered).toEqual([expect.objectContaining({ reloading: true })]);
      expect(sockets.at(-1)!.sent.filter((f) => f.type !== 'ping').map((f) => [f.type, f.history])).toEqual([['joins', undefined], ['leave', undefined], ['join', 1]]);
      expect(data.slice(2)).toEqual([{ tours: [], at: 3 }]); // the current state again
    } finally {
      client.close();
    }
  });
});
