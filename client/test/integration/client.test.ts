/**
 * The client package against two real gateways on one Redis, as an app in Node uses it (the
 * `ws` WebSocket): presence both ways, a message across nodes stamped with its sender, every
 * message exactly once and in order through a SIGKILL of the client's node while a backend
 * publishes, short-lived tokens renewed on the live socket without a disconnect, and a backend
 * disconnect (4003) that leaves the client closed.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../../gateway/test/harness/cluster.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import type { GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';
import { RealtimeClient, UnauthorizedError, type ClientOptions, type WebSocketConstructor } from '../../src/index.js';

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
function client(userId: string, urls: string | string[], opts: Partial<ClientOptions> = {}): RealtimeClient {
  const c = new RealtimeClient(urls, { WebSocket: WebSocket as unknown as WebSocketConstructor, getToken: () => fx.mint(userId), ...opts });
  clients.push(c);
  return c;
}

async function publish(gw: GatewayProcess, action: string, data: unknown): Promise<number> {
  const res = await fetch(`${gw.http}/api/publish`, {
    method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ action, data }),
  });
  return res.status;
}

describe('the client package on two gateways', () => {
  it('sees presence both ways, and a message crosses nodes stamped with its sender', async () => {
    const alice = client('pkg-alice', a.url);
    const bob = client('pkg-bob', b.url);
    expect((await alice.connect()).user.id).toBe('pkg-alice');
    await bob.connect();
    await waitFor('each sees the other online', () => alice.presence.online.has('pkg-bob') && bob.presence.online.has('pkg-alice'));
    const got: unknown[] = [];
    bob.channel('chat').on('message', (m) => got.push(m));
    await bob.channel('chat').join();
    await alice.channel('chat').join();
    const ack = await alice.channel('chat').publish({ text: 'hi' });
    expect(ack.ts).toEqual(expect.any(Number));
    await waitFor('the message on b', () => got.length === 1);
    expect(got[0]).toMatchObject({ action: 'chat', data: { text: 'hi' }, from: { userId: 'pkg-alice', username: 'pkg-alice' } });
    const offline: string[] = [];
    bob.presence.on('change', (u) => offline.push(...u.offline));
    alice.close();
    await waitFor('bob sees alice go offline', () => offline.includes('pkg-alice') && !bob.presence.online.has('pkg-alice'));
    const found = await bob.request({ type: 'search', q: 'pkg-bob' });
    expect(found.users).toEqual([]); // token-only users are not in the directory: typed result, real answer
  });

  it('renews a short-lived token on the live socket, without a disconnect', async () => {
    const reasons: string[] = [];
    const c = client('pkg-renew', a.url, {
      getToken: ({ reason }) => {
        reasons.push(reason);
        return fx.mint('pkg-renew', reason === 'connect' ? 6 : 600);
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
    const c = client('pkg-gone', b.url, { WebSocket: Counted as unknown as WebSocketConstructor, getToken: () => (asked += 1, fx.mint('pkg-gone')) });
    await c.connect();
    const closed: string[] = [];
    c.on('closed', (info) => closed.push(info.reason));
    const res = await fetch(`${a.http}/api/disconnect`, {
      method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ userId: 'pkg-gone' }),
    });
    expect(res.status).toBe(200);
    await waitFor('closed', () => c.state === 'closed');
    expect(closed).toEqual(['disconnected']);
    await expect(c.channel('x').join()).rejects.toThrow();
    expect(made).toHaveLength(1);
    expect(asked).toBe(1);
  });

  it('closes with reason "expired" when the token expires and getToken cannot renew it', async () => {
    const c = client('pkg-expire', a.url, {
      getToken: ({ reason }) => {
        if (reason !== 'connect') throw new UnauthorizedError('signed out', 'expired');
        return fx.mint('pkg-expire', 5);
      },
    });
    await c.connect();
    await waitFor('closed by the expiry', () => c.state === 'closed', 15_000, 100);
  });

  it('delivers every message once and in order through a SIGKILL of the client\'s node while a backend publishes', async () => {
    const survivor = b;
    const doomed = await fx.gateway({ ...cluster.env, NODE_ID: 'pkg-doomed' });
    const readers = Array.from({ length: 4 }, (_, i) => client(`pkg-reader-${i}`, [doomed.url, survivor.url]));
    const got = readers.map(() => [] as number[]);
    await Promise.all(readers.map(async (r, i) => {
      r.channel('feed:kill').on('message', (m) => got[i].push(m.data as number));
      await r.connect();
      await r.channel('feed:kill').join();
    }));
    const total = 150;
    let sent = 0;
    const publishing = (async () => {
      for (let n = 1; n <= total; n += 1) {
        expect(await publish(survivor, 'feed:kill', n)).toBe(200);
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
