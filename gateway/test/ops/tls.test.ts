/**
 * Native TLS: with TLS_CERT and TLS_KEY the gateway serves wss:// and https:// itself
 * (uWebSockets.js SSLApp), no proxy needed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { get } from './http.js';

const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let gw: GatewayProcess;
let ca: Buffer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  ca = readFileSync(cert);
  gw = await fx.gateway({ TLS_CERT: cert, TLS_KEY: key, DB_PATH: tempDbPath() });
});

afterAll(async () => {
  await fx.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('native TLS', () => {
  it('accepts wss:// with a certificate the client trusts and sends the welcome', async () => {
    expect(gw.logs.some((l) => /"msg":"gateway listening"/.test(l) && /"tls":true/.test(l))).toBe(true);
    const ws = new WebSocket(`wss://127.0.0.1:${gw.port}/ws?token=${await fx.mint('tls-user')}`, { ca, handshakeTimeout: 5000 });
    try {
      const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once('message', (data) => resolve(JSON.parse(data.toString())));
        ws.once('error', reject);
      });
      expect(first).toMatchObject({ type: 'welcome', user: { id: 'tls-user' } });
    } finally {
      ws.close();
    }
  });

  it('serves the HTTP routes over https, and nothing over plain http', async () => {
    const healthz = await get(`https://127.0.0.1:${gw.port}/healthz`, { ca });
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toEqual({ status: 'ok' });
    expect((await get(`https://127.0.0.1:${gw.port}/readyz`, { ca })).status).toBe(200);
    expect((await get(`http://127.0.0.1:${gw.port}/healthz`, { timeoutMs: 2000 })).status).not.toBe(200);
  });

  it('is refused by a client that does not trust the certificate', async () => {
    const answer = await get(`https://127.0.0.1:${gw.port}/healthz`);
    expect(answer.status).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});
