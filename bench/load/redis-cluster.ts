/**
 * A three-primary Redis Cluster (no replicas, no persistence) for the scaling benchmark, on
 * free loopback ports. Each node gets its client port and its cluster-bus port
 * (`cluster-port`, Redis 7) from the kernel, so neither is ever 6379 nor port + 10000 of
 * something else. Nodes are spawned through procs.ts (tracked, killed if we exit first).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from '../../gateway/test/harness/ports.js';
import { spawnServer, until, type ServerProcess } from './procs.js';

const run = promisify(execFile);

export interface BenchRedisCluster {
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  /** One plain (non-cluster) client per primary, in `ports` order: INFO, DBSIZE, PUBSUB are node-local. */
  clients: Redis[];
  stop(): Promise<void>;
}

const PRIMARIES = 3;

/** A client to one node that fails fast instead of queueing while the node is down. */
export function nodeClient(port: number): Redis {
  const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  c.on('error', () => {});
  return c;
}

async function clusterOk(clients: Redis[]): Promise<boolean> {
  try {
    const infos = await Promise.all(clients.map((c) => c.call('CLUSTER', 'INFO') as Promise<string>));
    return infos.every((i) => i.includes('cluster_state:ok'));
  } catch {
    return false;
  }
}

async function startNode(dir: string, i: number): Promise<ServerProcess> {
  const port = await freePort();
  let bus = await freePort();
  while (bus === port) bus = await freePort();
  const args = [
    '--port', String(port), '--cluster-port', String(bus), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
    '--dir', dir, '--loglevel', 'notice',
  ];
  return spawnServer(`redis primary ${i + 1}`, 'redis-server', args, {}, (line) => (/Ready to accept connections/.test(line) ? port : undefined), 10_000);
}

/** Start three nodes, join them with `redis-cli --cluster create`, and wait until every node says the cluster is ok. */
export async function startRedisCluster(): Promise<BenchRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-rcluster-'));
  const servers: ServerProcess[] = [];
  const clients: Redis[] = [];
  const stop = async () => {
    for (const c of clients.splice(0)) c.disconnect();
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < PRIMARIES; i += 1) servers.push(await startNode(dir, i));
    const ports = servers.map((s) => s.port);
    const nodes = ports.map((p) => `127.0.0.1:${p}`);
    clients.push(...ports.map(nodeClient));
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await until('cluster_state:ok on every primary', () => clusterOk(clients), 20_000, 100);
    return { ports, nodes: nodes.join(','), clients, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
