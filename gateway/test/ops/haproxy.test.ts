/**
 * deploy/haproxy.cfg in front of two gateway nodes (only the certificate path, the bind
 * ports, the server lines and the global maxconn are changed): TLS termination, WebSockets
 * through the proxy, /metrics hidden, and a node that drains is taken out by the /readyz
 * check while its clients come back through the proxy on the other node.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { freePort } from '../harness/ports.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { get } from './http.js';
import { ROOT } from './pm2.js';
import { ReconnectingClient } from './reconnecting.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;
let haproxy: ChildProcess;
let plainPort: number;
let tlsPort: number;
let ca: Buffer;
let dir: string;
const haproxyLog: string[] = [];
const clients: ReconnectingClient[] = [];

/** The shipped config with this test's certificate, ports and servers. */
function config(certPem: string, servers: GatewayProcess[]): string {
  const shipped = readFileSync(join(ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
  const out = shipped
    .replace('/etc/haproxy/certs/gateway.pem', certPem)
    .replace(/^(\s*)maxconn 200000$/m, '$1maxconn 4096') // the sandbox allows fewer open files
    .replace(/^(\s*)bind :80$/m, `$1bind 127.0.0.1:${plainPort}`)
    .replace(/^(\s*)bind :443 /m, `$1bind 127.0.0.1:${tlsPort} `)
    .replace(/^(\s*server gw1 .*\n)(\s*server gw\d .*\n)+/m, servers.map((s, i) => `    server gw${i + 1} 127.0.0.1:${s.port}\n`).join(''));
  expect(out.match(/^\s*server /gm)).toHaveLength(servers.length);
  expect(out).toContain(`bind 127.0.0.1:${tlsPort} ssl crt ${certPem}`);
  return out;
}

beforeAll(async () => {
  redis = await startRedis();
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix('haproxy'), DB_PATH: tempDbPath(), DRAIN_SPREAD_MS: '300', PRESENCE_GRACE_MS: '2000' };
  // One after the other: two first starts on one fresh DB_PATH race in the schema migration.
  a = await fx.gateway({ ...env, NODE_ID: 'ha-a' });
  b = await fx.gateway({ ...env, NODE_ID: 'ha-b' });
  [plainPort, tlsPort] = [await freePort(), await freePort()];

  dir = mkdtempSync(join(tmpdir(), 'gw-haproxy-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  ca = readFileSync(join(dir, 'cert.pem'));
  writeFileSync(join(dir, 'gateway.pem'), Buffer.concat([ca, readFileSync(join(dir, 'key.pem'))]));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, config(join(dir, 'gateway.pem'), [a, b]));
  execFileSync('haproxy', ['-c', '-q', '-f', cfg]);

  haproxy = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout!.on('data', (d: Buffer) => haproxyLog.push(d.toString()));
  haproxy.stderr!.on('data', (d: Buffer) => haproxyLog.push(d.toString()));
  try {
    await waitFor('haproxy forwarding to a ready node', async () => (await get(`http://127.0.0.1:${plainPort}/readyz`)).status === 200, 10_000, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nhaproxy said:\n${haproxyLog.join('')}`);
  }
});

afterAll(async () => {
  for (const c of clients) c.stop();
  if (haproxy && haproxy.exitCode === null) {
    const gone = new Promise((r) => haproxy.once('exit', r));
    haproxy.kill('SIGTERM');
    await gone;
  }
  await fx.teardown();
  await redis?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('deploy/haproxy.cfg', () => {
  it('terminates TLS for https and wss, and hides /metrics', async () => {
    const healthz = await get(`https://127.0.0.1:${tlsPort}/healthz`, { ca });
    expect(healthz.status).toBe(200);
    expect((await get(`https://127.0.0.1:${tlsPort}/metrics`, { ca })).status).toBe(404);
    const ws = new WebSocket(`wss://127.0.0.1:${tlsPort}/ws?token=${await fx.mint('ha-tls')}`, { ca, handshakeTimeout: 5000 });
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
    await waitFor('haproxy marked the stopped node down', () => haproxyLog.join('').includes('gw1 is DOWN'), 5000, 50);
  });
});
