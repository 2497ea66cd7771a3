/**
 * The client package against two real gateways on one Redis, as an app in Node uses it (the
 * `ws` WebSocket, or the HTTP streaming fallback): presence both ways, a message across nodes
 * stamped with its sender, every message exactly once and in order through a SIGKILL of the
 * client's node while a backend publishes, short-lived tokens renewed on the live connection
 * without a disconnect, and a backend disconnect (4003) that leaves the client closed. The same
 * assertions run over both transports; then the fallback itself: a refused or hanging WebSocket
 * gives way to HTTP.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../../gateway/test/harness/cluster.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import type { GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';
import { RealtimeClient, UnauthorizedError, type ClientOptions, type SocketLike, type Transport, type WebSocketConstructor } from '../../src/index.js';

const KEY = 'client-package-api-key-0123456789';
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let a: GatewayProcess;
let b: GatewayProcess;
const clients: RealtimeClient[] = [];

beforeAll(async () => {
  cluster = await startCluster(fx, 'pkg', {
    nodes: 2,
    env: { API_KEYS: KEY, HISTORY_ACTIONS: 'feed*=1000/5m', PRESENCE_GRACE_MS: '0', PRESENCE_BATCH_MS: '10', TOKEN_EXPIRY_WARNING_S: '4' },
  });
  [a, b] = cluster.nodes;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stop();
});

/** A client of `userId` on `urls`, its tokens minted by the fixture (so the log check covers them). */
function makeClient(transport: Transport) {
  return (userId: string, urls: string | string[], opts: Partial<ClientOptions> = {}): RealtimeClient => {
    const c = new RealtimeClient(urls, { WebSocket: WebSocket as unknown as WebSocketConstructor, getToken: () => fx.mint(userId), transports: [transport], ...opts });
    clients.push(c);
    return c;
  };
}

async function publish(gw: GatewayProcess, action: string, data: unknown): Promise<number> {
  const res = await fetch(`${gw.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, data }),
  });
  return res.status;
}

describe.each(['websocket', 'http'] as const)('the client package on two gateways, over %s', (transport) => {
  const client = makeClient(transport);
  const id = (name: string) => `pkg-${transport}-${name}`;

  it('sees presence both ways, and a message crosses nodes stamped with its sender', async () => {
    const alice = client(id('alice'), a.url);
    const bob = client(id('bob'), b.url);
    expect((await alice.connect()).user.id).toBe(id('alice'));
    expect(alice.transport).toBe(transport);
    await bob.connect();
    await waitFor('each sees the other online', () => alice.presence.online.has(id('bob')) && bob.presence.online.has(id('alice')));
    const got: unknown[] = [];
    bob.channel('chat').on('message', (m) => got.push(m));
    await bob.channel('chat').join();
    await alice.channel('chat').join();
    const ack = await alice.channel('chat').publish({ text: 'hi' });
    expect(ack.ts).toEqual(expect.any(Number));
    await waitFor('the message on b', () => got.length === 1);
    expect(got[0]).toMatchObject({ action: 'chat', data: { text: 'hi' }, from: { userId: id('alice'), username: id('alice') } });
    const offline: string[] = [];
    bob.presence.on('change', (u) => offline.push(...u.offline));
    alice.close();
    await waitFor('bob sees alice go offline', () => offline.includes(id('alice')) && !bob.presence.online.has(id('alice')));
    const found = await bob.request({ type: 'search', q: id('bob') });
    expect(found.users).toEqual([]); // token-only users are not in the directory: typed result, real answer
  });

  it('renews a short-lived token on the live socket, without a disconnect', async () => {
    const reasons: string[] = [];
    const c = client(id('renew'), a.url, {
      getToken: ({ reason }) => {
        reasons.push(reason);
        return fx.mint(id('renew'), reason === 'connect' ? 6 : 600);
      },
    });
    const disconnects: number[] = [];
    const refreshed: number[] = [];
    c.on('disconnect', (d) => disconnects.push(d.code));
    c.on('refreshed', (r) => refreshed.push(r.expiresAt));
    await c.connect();
    // token_expiring 4 s before the 6 s token's exp: renewed then, and still open past the first exp.
    await waitFor('the token renewed', () => refreshed.length === 1, 10_000);
    expect(refreshed[0]).toBeGreaterThan(Date.now() + 500_000);
    const firstExp = Date.now() + 4000;
    await waitFor('past the first token\'s expiry, still connected', () => Date.now() > firstExp && c.state === 'connected', 10_000, 200);
    expect(reasons).toEqual(['connect', 'refresh']);
    expect(disconnects).toEqual([]);
  });

  it('stays closed after the backend disconnects the user (4003), asking for no token', async () => {
    const made: number[] = [];
    class Counted extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        made.push(1);
      }
    }
    let asked = 0;
    const c = client(id('gone'), b.url, { WebSocket: Counted as unknown as WebSocketConstructor, getToken: () => (asked += 1, fx.mint(id('gone'))) });
    await c.connect();
    const closed: string[] = [];
    c.on('closed', (info) => closed.push(info.reason));
    const res = await fetch(`${a.http}/api/disconnect`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ userId: id('gone') }),
    });
    expect(res.status).toBe(200);
    await waitFor('closed', () => c.state === 'closed');
    expect(closed).toEqual(['disconnected']);
    await expect(c.channel('x').join()).rejects.toThrow();
    expect(made).toHaveLength(transport === 'websocket' ? 1 : 0);
    expect(asked).toBe(1);
  });

  it('closes with reason "expired" when the token expires and getToken cannot renew it', async () => {
    const c = client(id('expire'), a.url, {
      getToken: ({ reason }) => {
        if (reason !== 'connect') throw new UnauthorizedError('signed out', 'expired');
        return fx.mint(id('expire'), 5);
      },
    });
    await c.connect();
    await waitFor('closed by the expiry', () => c.state === 'closed', 15_000, 100);
  });

  it('delivers every message once and in order through a SIGKILL of the client\'s node while a backend publishes', async () => {
    const survivor = b;
    const doomed = await fx.gateway({ ...cluster.env, NODE_ID: `pkg-doomed-${transport}` });
    const readers = Array.from({ length: 4 }, (_, i) => client(id(`reader-${i}`), [doomed.url, survivor.url]));
    const got = readers.map(() => [] as number[]);
    await Promise.all(readers.map(async (r, i) => {
      r.channel(`feed:kill-${transport}`).on('message', (m) => got[i].push(m.data as number));
      await r.connect();
      await r.channel(`feed:kill-${transport}`).join();
    }));
    const total = 150;
    let sent = 0;
    const publishing = (async () => {
      for (let n = 1; n <= total; n += 1) {
        expect(await publish(survivor, `feed:kill-${transport}`, n)).toBe(200);
        sent = n;
        if (n === 50) await doomed.kill('SIGKILL');
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await publishing;
    expect(sent).toBe(total);
    await waitFor('every reader has every message', () => got.every((g) => g.length >= total), 30_000, 50);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    for (const g of got) expect(g).toEqual(expected);
    expect(readers.every((r) => r.welcome?.node === survivor.nodeId)).toBe(true);
  });
});

describe('the fallback to HTTP streaming', () => {
  /** A WebSocket an upgrade-refusing proxy would give: closed (1006) before it ever opens. */
  class Refused implements SocketLike {
    onopen: ((ev: any) => void) | null = null;
    onmessage: ((ev: any) => void) | null = null;
    onclose: ((ev: any) => void) | null = null;
    onerror: ((ev: any) => void) | null = null;
    constructor() {
      setTimeout(() => this.onclose?.({ code: 1006, reason: '' }), 5);
    }
    send(): void {}
    close(): void {}
  }
  /** One that hangs: never opens, never closes. */
  class Hanging implements SocketLike {
    onopen: ((ev: any) => void) | null = null;
    onmessage: ((ev: any) => void) | null = null;
    onclose: ((ev: any) => void) | null = null;
    onerror: ((ev: any) => void) | null = null;
    send(): void {}
    close(): void {}
  }

  it('takes HTTP at once when the upgrade is refused, and keeps it for the next reconnects', async () => {
    const c = new RealtimeClient(a.url, { WebSocket: Refused as unknown as WebSocketConstructor, getToken: () => fx.mint('pkg-fallback') });
    clients.push(c);
    const started = Date.now();
    const welcome = await c.connect();
    const took = Date.now() - started;
    console.log(`fallback after a refused upgrade: connected over ${c.transport} in ${took} ms`);
    expect(welcome.user.id).toBe('pkg-fallback');
    expect(c.transport).toBe('http');
    expect(took).toBeLessThan(3000);
    const got: unknown[] = [];
    c.channel('fb').on('message', (m) => got.push(m.data));
    await c.channel('fb').join();
    expect(await publish(b, 'fb', 'over http')).toBe(200);
    await waitFor('the message over the stream', () => got.length === 1);
    expect(got).toEqual(['over http']);
  });

  it('takes HTTP when the upgrade hangs, after fallbackAfterMs', async () => {
    const c = new RealtimeClient(b.url, { WebSocket: Hanging as unknown as WebSocketConstructor, fallbackAfterMs: 1000, getToken: () => fx.mint('pkg-hang') });
    clients.push(c);
    const started = Date.now();
    await c.connect();
    const took = Date.now() - started;
    console.log(`fallback after a hanging upgrade: connected over ${c.transport} in ${took} ms`);
    expect(c.transport).toBe('http');
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
  });
});
