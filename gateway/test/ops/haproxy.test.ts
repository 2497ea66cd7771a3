/**
 * deploy/haproxy.cfg in front of two gateway nodes (only the certificate path, the bind
 * ports, the server lines and the global maxconn are changed): TLS termination, WebSockets
 * through the proxy, /metrics hidden, and a node that drains is taken out by the /readyz
 * check while its clients come back through the proxy on the other node.
 */
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';
import { startHaproxy, type HaproxyRun } from './haproxy.js';
import { get } from './http.js';
import { ReconnectingClient } from './reconnecting.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let a: GatewayProcess;
let b: GatewayProcess;
let haproxy: HaproxyRun;
let plainPort: number;
let tlsPort: number;
let ca: Buffer;
const clients: ReconnectingClient[] = [];

beforeAll(async () => {
  cluster = await startCluster(fx, 'haproxy', { nodes: ['ha-a', 'ha-b'], env: { DRAIN_SPREAD_MS: '300', PRESENCE_GRACE_MS: '2000' } });
  [a, b] = cluster.nodes;
  haproxy = await startHaproxy([a.port, b.port]);
  ({ plainPort, tlsPort, ca } = haproxy);
});

afterAll(async () => {
  for (const c of clients) c.stop();
  await haproxy?.stop();
  await cluster?.stop();
});

describe('deploy/haproxy.cfg', () => {
  it('terminates TLS for https and wss, and hides /metrics', async () => {
    const healthz = await get(`https://127.0.0.1:${tlsPort}/healthz`, { ca });
    expect(healthz.status).toBe(200);
    expect((await get(`https://127.0.0.1:${tlsPort}/metrics`, { ca })).status).toBe(404);
    const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/ws`, ['bearer', await fx.mint('ha-tls')], { ca, handshakeTimeout: 5000 });
    try {
      const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once('message', (data) => resolve(JSON.parse(data.toString())));
        ws.once('error', reject);
      });
      expect(first).toMatchObject({ type: 'welcome', user: { id: 'ha-tls' } });
    } finally {
      ws.close();
    }
  });

  it('spreads sockets over the nodes and moves a draining node\'s clients to the other one', async () => {
    const url = `ws://127.0.0.1:${plainPort}/ws`;
    for (let i = 0; i < 20; i++) clients.push(await new ReconnectingClient(url, await fx.mint(`ha${i}`), 300).start());
    const first = clients.map((c) => c.nodes()[0]);
    expect(new Set(first)).toEqual(new Set(['ha-a', 'ha-b'])); // leastconn alternates
    const onA = clients.filter((c) => c.nodes()[0] === 'ha-a');

    const exit = a.kill('SIGTERM');
    await waitFor('clients of the draining node back, on the other node', () => onA.every((c) => c.connected && c.nodes().length === 2), 10_000, 50);
    const failures = clients.reduce((n, c) => n + c.handshakeFailures, 0);
    console.log(`haproxy: ${onA.length} clients moved from a draining node; failed handshakes retried: ${failures}`);
    expect(onA.every((c) => c.nodes()[1] === 'ha-b')).toBe(true);
    expect(clients.flatMap((c) => c.closes)).toEqual(onA.map(() => 1012));
    expect(await exit).toBe(0);
    // With a down, everything through the proxy still works.
    for (let i = 0; i < 5; i++) expect((await get(`http://127.0.0.1:${plainPort}/readyz`)).status).toBe(200);
    await waitFor('haproxy marked the stopped node down', () => haproxy.log().includes('gw1 is DOWN'), 5000, 50);
  });
});
