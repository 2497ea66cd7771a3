/**
 * A real redis-server owned by one test file (or one benchmark run): started on a free
 * loopback port with no persistence, so a test can stop it and start a fresh, empty one on
 * the same port. A server still running when this process exits is killed with it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface RedisServer {
  port: number;
  url: string;
  /** Stop the server (SIGKILL when `hard`), losing everything in it. */
  stop(hard?: boolean): Promise<void>;
  /** Start a fresh, empty server on the same port. */
  start(): Promise<void>;
  client(): Redis;
}

async function ping(port: number): Promise<boolean> {
  const c = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

/** Servers started here and not yet exited: SIGKILLed if this process exits first. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const clients: Redis[] = [];

  const start = async () => {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: 'ignore',
    });
    running.add(p);
    p.once('exit', () => running.delete(p));
    proc = p;
    await waitFor(`redis-server on port ${port}`, () => ping(port), 10_000, 25);
  };
  const stop = async (hard = false) => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop: async (hard) => {
      for (const c of clients.splice(0)) c.disconnect();
      await stop(hard);
    },
    client: () => {
      const c = new Redis({ port, host: '127.0.0.1' });
      c.on('error', () => {});
      clients.push(c);
      return c;
    },
  };
}

/**
 * Clients of `server()` a test makes as it goes and drops together; errors while the server is
 * stopped are expected and ignored (ioredis reconnects when it is back).
 */
export function clientPool(server: () => RedisServer): { client(): Redis; all: Redis[]; disconnect(): void } {
  const all: Redis[] = [];
  return {
    all,
    client() {
      const c = new Redis(server().url);
      c.on('error', () => {});
      all.push(c);
      return c;
    },
    disconnect() {
      for (const c of all) c.disconnect();
    },
  };
}
