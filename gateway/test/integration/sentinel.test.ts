/**
 * Redis Sentinel: with REDIS_SENTINELS the gateway asks the Sentinels for the current primary
 * (ioredis follows a failover by itself) and works exactly as with REDIS_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gatewayFixture } from '../harness/fixture.js';
import { tempDbPath, type GatewayProcess } from '../harness/gateway.js';
import { freePort } from '../harness/ports.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';

const fx = gatewayFixture();
let primary: RedisServer;
let sentinel: ChildProcess;
let sentinelPort: number;
let gw: GatewayProcess;

beforeAll(async () => {
  primary = await startRedis();
  sentinelPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor gwprimary 127.0.0.1 ${primary.port} 1\n`);
  sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  await waitFor('sentinel knows the primary', async () => {
    const s = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    s.on('error', () => {});
    try {
      await s.connect();
      return ((await s.call('SENTINEL', 'get-master-addr-by-name', 'gwprimary')) as string[] | null)?.[1] === String(primary.port);
    } finally {
      s.disconnect();
    }
  }, 10_000, 100);
});

afterAll(async () => {
  await fx.teardown();
  sentinel?.kill('SIGKILL');
  await primary?.stop();
});

it('finds the primary through the Sentinels and keeps presence there', async () => {
  const prefix = uniquePrefix('sent');
  gw = await fx.gateway({
    REDIS_SENTINELS: `127.0.0.1:${sentinelPort}`, REDIS_SENTINEL_NAME: 'gwprimary', REDIS_PREFIX: prefix, DB_PATH: tempDbPath(),
  });
  const c = await fx.connect(gw, 'via-sentinel');
  await waitFor('online in the primary', async () => (await primary.client().sismember(`${prefix}online_users`, 'via-sentinel')) === 1);
  expect((await fetch(`${gw.http}/readyz`)).status).toBe(200);
  c.close();
});
