/**
 * A real three-master Redis Cluster on free loopback ports (no replicas, no persistence),
 * owned by one test file. Each node also uses port + 10000 for the cluster bus.
 *
 * A node can be stopped and started again: its cluster config file (node id, slots) is kept,
 * so it comes back as the same primary with the same slots, and empty. Stopping all three
 * and starting them again is the cluster's "Redis restarted empty". Nodes still running when
 * this process exits are killed with it.
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
  /** redis-cli against one node; returns its output. */
  cli(port: number, ...args: string[]): string;
  /** The port of the primary that owns `key`'s slot (channels hash the same way). */
  ownerOf(key: string): number;
  /** PUBSUB SHARDNUMSUB on each primary: per port (in `ports` order), how many of `channels` have exactly `subscribers` there. */
  shardChannelsPerPrimary(channels: string[], subscribers: number): number[];
  /** SIGKILL one node (`port`), or all of them. */
  stopNode(port?: number): Promise<void>;
  /** Start one stopped node (or every stopped one) again, and wait until the cluster is ok on every node. */
  startNode(port?: number): Promise<void>;
  stop(): Promise<void>;
}

const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' });

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function up(port: number): boolean {
  try {
    return cli(port, 'ping').trim() === 'PONG';
  } catch {
    return false;
  }
}

function clusterOk(ports: number[]): boolean {
  try {
    return ports.every((p) => cli(p, 'cluster', 'info').includes('cluster_state:ok'));
  } catch {
    return false;
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-rcluster-'));
  const ports = [await freePort(), await freePort(), await freePort()];
  const servers = new Map<number, ChildProcess>();
  const spawnNode = (port: number) => {
    const p = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000',
    ], { stdio: 'ignore', cwd: dir });
    running.add(p);
    p.once('exit', () => running.delete(p));
    servers.set(port, p);
  };
  const kill = (port: number) => new Promise((r) => {
    const s = servers.get(port);
    if (!s || s.exitCode !== null || s.signalCode !== null) return r(undefined);
    s.once('exit', r);
    s.kill('SIGKILL');
  });
  for (const port of ports) spawnNode(port);
  await waitFor('redis cluster nodes up', () => ports.every(up), 10_000, 50);
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  await waitFor('cluster state ok on every node', () => clusterOk(ports), 15_000, 100);
  return {
    ports,
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    cli,
    ownerOf(key) {
      const slot = Number(cli(ports[0], 'cluster', 'keyslot', key).trim());
      const shards = JSON.parse(execFileSync('redis-cli', ['-p', String(ports[0]), '--json', 'cluster', 'slots'], { encoding: 'utf8' })) as Array<[number, number, [string, number]]>;
      const owner = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no primary owns slot ${slot}`);
      return owner[2][1];
    },
    shardChannelsPerPrimary(channels, subscribers) {
      return ports.map((port) => {
        const reply = cli(port, 'pubsub', 'shardnumsub', ...channels).trim().split('\n');
        return channels.filter((_, i) => reply[2 * i + 1] === String(subscribers)).length;
      });
    },
    async stopNode(port) {
      await Promise.all((port === undefined ? ports : [port]).map(kill));
    },
    async startNode(port) {
      const stopped = (port === undefined ? ports : [port]).filter((p) => !up(p));
      for (const p of stopped) spawnNode(p);
      await waitFor('restarted nodes up', () => stopped.every(up), 10_000, 50);
      await waitFor('cluster state ok on every node', () => clusterOk(ports), 30_000, 100);
    },
    async stop() {
      await Promise.all(ports.map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
