/**
 * The shipped proxy configs (deploy/haproxy.cfg, deploy/nginx.conf) in front of gateways, probed
 * as the security reviews did (issue 12, items 2 and 3; issue 25, item 6): a token sent in
 * `?token=` is refused at the proxy and reaches none of its logs, access or error, even while an
 * upstream is down; and a client cannot choose the address its failed upgrades are counted on
 * by sending its own X-Forwarded-For.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type Nginx } from '../../../web/test/nginx.js';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath } from '../harness/gateway.js';
import { freePort } from '../harness/ports.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { startHaproxy, type HaproxyRun } from './haproxy.js';

const fx = gatewayFixture();
let redis: RedisServer;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const stop of stops.splice(0)) await stop();
  await fx.teardown();
  await redis?.stop();
});

/**
 * Fresh nodes for one test, one behind each proxy: failed upgrades are counted per node and
 * address, so each proxy's probes meet a counter of their own, whatever ran before.
 */
async function stack(label: string, deadUpstream = false) {
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix(label), DB_PATH: tempDbPath(), TRUSTED_PROXIES: '127.0.0.1', BAD_TOKEN_BURST: '5' };
  const [behindHaproxy, behindNginx] = [await fx.gateway({ ...env, NODE_ID: `${label}-h` }), await fx.gateway({ ...env, NODE_ID: `${label}-n` })];
  // A node that is down: a free port nothing listens on, listed first so every proxy tries it.
  const dead = deadUpstream ? [await freePort()] : [];
  const haproxy: HaproxyRun = await startHaproxy([...dead, behindHaproxy.port]);
  stops.push(() => haproxy.stop());
  const nginx: Nginx = await startNginx([...dead, behindNginx.port]);
  stops.push(() => nginx.stop());
  return [
    { name: 'haproxy', ws: `ws://127.0.0.1:${haproxy.plainPort}/ws`, log: () => haproxy.log(), failover: /Connection refused|DOWN|SC--|sC--/ },
    { name: 'nginx', ws: `ws://127.0.0.1:${nginx.port}/ws`, log: () => `${nginx.accessLog()}\n${nginx.errorLog()}`, failover: /connect\(\) failed/ },
  ];
}

/** The HTTP status of an upgrade through `url` (101 when it opened; the socket is closed again). */
function upgrade(url: string, headers: Record<string, string> = {}, protocols?: string[]): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: 5000 });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', () => resolve(0));
  });
}

describe('the shipped proxy configs', () => {
  it('refuse a token in the query string, and write no token to any log, with a node down', async () => {
    for (const proxy of await stack('px-log', true)) {
      const token = await fx.mint(`logged-${proxy.name}`);
      expect(await upgrade(`${proxy.ws}?token=${encodeURIComponent(token)}`), proxy.name).toBe(403);
      // The subprotocol works, through the failover to the live node.
      for (let i = 0; i < 3; i += 1) expect(await upgrade(proxy.ws, {}, ['bearer', token]), proxy.name).toBe(101);
      // The dead node was tried (and logged): the case where nginx writes request lines to its error log.
      if (proxy.name === 'nginx') await waitFor('nginx to log the failed connect', () => proxy.failover.test(proxy.log()), 5000, 50);
      await waitFor(`${proxy.name} to log the upgrades`, () => proxy.log().split('\n').filter((l) => l.includes('/ws') && / 101 | 403 /.test(l)).length >= 2, 5000, 50);
      const log = proxy.log();
      expect(log, proxy.name).not.toContain('token=');
      expect(log, proxy.name).not.toContain(token.split('.')[2]);
      expect(log, proxy.name).not.toContain(token.split('.')[1]);
    }
  });

  it('count failed upgrades on the client\'s real address, whatever X-Forwarded-For it sends', async () => {
    for (const proxy of await stack('px-xff')) {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i += 1) {
        statuses.push(await upgrade(proxy.ws, { 'x-forwarded-for': `203.0.113.${i + 1}` }, ['bearer', 'not-a-token']));
      }
      console.log(`${proxy.name}: bad upgrades with a forged, rotating X-Forwarded-For answered ${statuses.join(' ')}`);
      expect(statuses.slice(0, 5), proxy.name).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5), proxy.name).toEqual([429, 429, 429]);
    }
  });
});
