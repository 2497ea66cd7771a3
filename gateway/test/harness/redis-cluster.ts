/**
 * A real three-master Redis Cluster on free loopback ports (no replicas, no persistence),
 * owned by one test file. Each node also uses port + 10000 for the cluster bus.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface RedisCluster {
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  stop(): Promise<void>;
}

const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-rcluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const servers: ChildProcess[] = ports.map((port) => spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
  ], { stdio: 'ignore', cwd: dir }));
  const up = (p: number) => {
    try {
      return cli(p, 'ping').trim() === 'PONG';
    } catch {
      return false;
    }
  };
  await waitFor('redis cluster nodes up', () => ports.every(up), 10_000, 50);
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  await waitFor('cluster state ok on every node', () => ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok')), 15_000, 100);
  return {
    ports,
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    async stop() {
      await Promise.all(servers.map((s) => new Promise((r) => {
        if (s.exitCode !== null) return r(undefined);
        s.once('exit', r);
        s.kill('SIGKILL');
      })));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
