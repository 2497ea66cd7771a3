/**
 * deploy/haproxy.cfg, run for a test: the shipped file with only the certificate path, the
 * bind ports, the `server` lines and the global maxconn changed; a self-signed certificate;
 * its log (stdout) kept in memory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { freePort } from '../harness/ports.js';
import { waitFor } from '../harness/wait.js';
import { get } from './http.js';
import { ROOT } from './pm2.js';

export interface HaproxyRun {
  plainPort: number;
  tlsPort: number;
  /** The self-signed certificate clients must trust for the TLS port. */
  ca: Buffer;
  /** Everything HAProxy wrote so far (its access log included). */
  log(): string;
  stop(): Promise<void>;
}

/** The shipped config with this run's certificate, ports and servers. */
export function configFor(certPem: string, plainPort: number, tlsPort: number, serverPorts: number[]): string {
  const shipped = readFileSync(join(ROOT, 'deploy', 'haproxy.cfg'), 'utf8');
  const out = shipped
    .replace('/etc/haproxy/certs/gateway.pem', certPem)
    .replace(/^(\s*)maxconn 200000$/m, '$1maxconn 4096') // the sandbox allows fewer open files
    .replace(/^(\s*)bind :80$/m, `$1bind 127.0.0.1:${plainPort}`)
    .replace(/^(\s*)bind :443 /m, `$1bind 127.0.0.1:${tlsPort} `)
    .replace(/^(\s*server gw1 .*\n)(\s*server gw\d .*\n)+/m, serverPorts.map((p, i) => `    server gw${i + 1} 127.0.0.1:${p}\n`).join(''));
  expect(out.match(/^\s*server /gm)).toHaveLength(serverPorts.length);
  expect(out).toContain(`bind 127.0.0.1:${tlsPort} ssl crt ${certPem}`);
  return out;
}

export async function startHaproxy(serverPorts: number[]): Promise<HaproxyRun> {
  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'gw-haproxy-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const ca = readFileSync(join(dir, 'cert.pem'));
  writeFileSync(join(dir, 'gateway.pem'), Buffer.concat([ca, readFileSync(join(dir, 'key.pem'))]));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, configFor(join(dir, 'gateway.pem'), plainPort, tlsPort, serverPorts));
  execFileSync('haproxy', ['-c', '-q', '-f', cfg]);
  const output: string[] = [];
  const proc: ChildProcess = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor('haproxy forwarding to a ready node', async () => (await get(`http://127.0.0.1:${plainPort}/readyz`)).status === 200, 10_000, 50);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\nhaproxy said:\n${output.join('')}`);
  }
  return { plainPort, tlsPort, ca, log: () => output.join(''), stop };
}
