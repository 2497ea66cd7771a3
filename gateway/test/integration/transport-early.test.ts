/**
 * A node hears other nodes' presence events before its socket route exists (startup reads the
 * store first): publishing to local topics then must do nothing. uWebSockets.js itself ends the
 * process with SIGSEGV on a publish before any `ws` route, so this runs in a child process.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const DIST = join(__dirname, '..', '..', '..', 'dist', 'gateway', 'src');

it('publishes to nobody, without crashing, before the transport listens', () => {
  const script = `
    const { loadNativeUws } = await import(${JSON.stringify(join(DIST, 'transport', 'uws.js'))});
    const { createTransport } = await import(${JSON.stringify(join(DIST, 'transport', 'server.js'))});
    const { createLogger } = await import(${JSON.stringify(join(DIST, 'log.js'))});
    const t = createTransport(loadNativeUws(), { host: '127.0.0.1', port: 0, trustedProxies: [], maxPayloadBytes: 1024, maxBackpressureBytes: 1024, idleTimeoutS: 10 }, createLogger('silent', 't'));
    t.fanout.publish('p:*', '{"type":"presence_count","onlineCount":3,"listed":true}');
    console.log('subscribers', t.fanout.subscribers('p:*'));
    process.exit(0);
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(run.signal).toBeNull();
  expect(run.stdout.trim()).toBe('subscribers 0');
  expect(run.status).toBe(0);
});
