/**
 * A real Redis Cluster on free loopback ports (no persistence), owned by one test file: three
 * primaries, and with `{ replicas: 1 }` one replica for each (six nodes, a short node timeout
 * so a replica takes over a killed primary within a few seconds). Each node also uses
 * port + 10000 for the cluster bus.
 *
 * A node can be stopped (SIGKILL) and started again: its cluster config file (node id, slots)
 * is kept, so a primary without replica comes back as the same primary with the same slots,
 * and empty. Stopping all three and starting them again is the cluster's "Redis restarted
 * empty". With replicas, a killed primary's replica is promoted; `primaries()` follows that.
 * Nodes still running when this process exits are killed with it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export interface RedisClusterOptions {
  /** Replicas per primary: 0 (default, three nodes) or 1 (six nodes). */
  replicas?: 0 | 1;
  /** `--cluster-node-timeout`: how long a node may be silent before it counts as failed (default 2000, with replicas 1000). */
  nodeTimeoutMs?: number;
}

export interface RedisCluster {
  /** Every node's port, primaries and replicas, in start order. */
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,…` as REDIS_CLUSTER_NODES takes it. */
  nodes: string;
  /** redis-cli against one node; returns its output. */
  cli(port: number, ...args: string[]): string;
  /** The port of the primary that owns `key`'s slot (channels hash the same way), as a running node sees it. */
  ownerOf(key: string): number;
  /** The ports of the nodes serving slots now, as a running node sees it (they change after a failover). */
  primaries(): number[];
  /** The ports of the replicas of the primary on `port`, as a running node sees it. */
  replicasOf(port: number): number[];
  /** PUBSUB SHARDNUMSUB on each node: per port (in `ports` order), how many of `channels` have exactly `subscribers` there. */
  shardChannelsPerPrimary(channels: string[], subscribers: number): number[];
  /** SIGKILL one node (`port`), or all of them. */
  stopNode(port?: number): Promise<void>;
  /** Start one stopped node (or every stopped one) again, and wait until the cluster is ok on every node. */
  startNode(port?: number): Promise<void>;
  /** Wait until every running node reports `cluster_state:ok`. */
  waitClusterOk(timeoutMs?: number): Promise<void>;
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

/** One line of CLUSTER NODES: `<id> <ip:port@bus> <flags> <primary id|-> … <slots…>`. */
interface NodeLine { id: string; port: number; flags: string[]; primaryId: string; slots: number }

function clusterNodes(port: number): NodeLine[] {
  return cli(port, 'cluster', 'nodes').trim().split('\n').map((line) => {
    const [id, addr, flags, primaryId, , , , , ...slots] = line.split(' ');
    return { id, port: Number(/:(\d+)@/.exec(addr)?.[1]), flags: flags.split(','), primaryId, slots: slots.length };
  });
}

/** Every replica replicates, and every node knows three primaries with slots and `replicas` replicas each. */
function replicated(ports: number[], replicas: number): boolean {
  try {
    return ports.every((p) => {
      const view = clusterNodes(p);
      const primaries = view.filter((n) => n.flags.includes('master') && n.slots > 0);
      const linked = !cli(p, 'role').startsWith('slave') || cli(p, 'info', 'replication').includes('master_link_status:up');
      return linked && primaries.length === 3 && view.filter((n) => n.flags.includes('slave')).length === 3 * replicas;
    });
  } catch {
    return false;
  }
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0;
  const nodeTimeout = options.nodeTimeoutMs ?? (replicas > 0 ? 1000 : 2000);
  const dir = mkdtempSync(join(tmpdir(), 'gw-rcluster-'));
  const ports: number[] = [];
  for (let i = 0; i < 3 * (1 + replicas); i += 1) ports.push(await freePort());
  const servers = new Map<number, ChildProcess>();
  const isRunning = (port: number) => {
    const s = servers.get(port);
    return s !== undefined && s.exitCode === null && s.signalCode === null;
  };
  const live = () => ports.filter(isRunning);
  const spawnNode = (port: number) => {
    const p = spawn('redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', String(nodeTimeout),
      // A replica's first full sync starts at once instead of after the default 5 s wait for more replicas.
      '--repl-diskless-sync-delay', '0',
    ], { stdio: 'ignore', cwd: dir });
    running.add(p);
    p.once('exit', () => running.delete(p));
    servers.set(port, p);
  };
  const kill = (port: number) => new Promise((r) => {
    const s = servers.get(port);
    if (!s || !isRunning(port)) return r(undefined);
    s.once('exit', r);
    s.kill('SIGKILL');
  });
  const waitClusterOk = async (timeoutMs = 30_000) => {
    await waitFor('cluster state ok on every running node', () => clusterOk(live()), timeoutMs, 100);
  };
  /** A running node's view, for questions whose answer moves with failovers. */
  const viewer = () => live().find(up) ?? ports[0];

  for (const port of ports) spawnNode(port);
  await waitFor('redis cluster nodes up', () => ports.every(up), 10_000, 50);
  execFileSync('redis-cli', [
    '--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicas), '--cluster-yes',
  ], { stdio: 'ignore' });
  await waitClusterOk(15_000);
  if (replicas > 0) await waitFor('every replica linked and known to every node', () => replicated(ports, replicas), 20_000, 100);
  return {
    ports,
    nodes: ports.map((p) => `127.0.0.1:${p}`).join(','),
    cli,
    ownerOf(key) {
      const at = viewer();
      const slot = Number(cli(at, 'cluster', 'keyslot', key).trim());
      const shards = JSON.parse(execFileSync('redis-cli', ['-p', String(at), '--json', 'cluster', 'slots'], { encoding: 'utf8' })) as Array<[number, number, [string, number]]>;
      const owner = shards.find(([from, to]) => slot >= from && slot <= to);
      if (!owner) throw new Error(`no primary owns slot ${slot}`);
      return owner[2][1];
    },
    primaries() {
      return clusterNodes(viewer()).filter((n) => n.flags.includes('master') && n.slots > 0).map((n) => n.port).sort((x, y) => x - y);
    },
    replicasOf(port) {
      const view = clusterNodes(viewer());
      const primary = view.find((n) => n.port === port);
      return view.filter((n) => primary && n.primaryId === primary.id).map((n) => n.port);
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
      await waitClusterOk(30_000);
    },
    waitClusterOk,
    async stop() {
      await Promise.all(ports.map(kill));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
