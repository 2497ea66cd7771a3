/**
 * Memory per idle connection: N clients connect to ONE node, join one action and stay idle;
 * the node's VmRSS after, minus before, over N. A warm-up round first, so lazily
 * initialised code paths are not charged to the connections.
 *
 * Two figures: RSS as the process holds it 2 s after the connections opened (what the brief
 * asks and what a host sees), and RSS after a full garbage collection requested through the
 * inspector (activated by SIGUSR1; servers start with --inspect-port=0): the difference is
 * garbage the connect path left behind, not state kept per connection.
 */
import WebSocket from 'ws';
import { AgentPool } from './agents.js';
import { rssBytes, sleep, type ServerProcess } from './procs.js';
import { BENCH_SECRET, type Cluster } from './targets.js';

export interface MemoryResult {
  connections: number;
  rssBeforeMB: number;
  rssAfterMB: number;
  kbPerConn: number;
  /** After a full GC in the server; undefined when the inspector could not be reached. */
  kbPerConnAfterGc?: number;
  failed: number;
}

export async function openIdle(pool: AgentPool, cluster: Cluster, urls: string[], n: number, group: string, userPrefix: string) {
  return pool.open(n, (count, firstIndex) => ({
    cmd: 'open', group, role: 'idle', kind: cluster.kind, urls, count, userPrefix, firstIndex, join: 'bench', watchNone: true,
    secret: BENCH_SECRET, concurrency: 250, timeoutMs: 60_000,
  }));
}

const inspectors = new Map<number, string>();

/** Ask a node server for a full GC through its inspector; false when that did not work. */
export async function collectGarbage(server: ServerProcess): Promise<boolean> {
  try {
    let url = inspectors.get(server.pid);
    if (!url) {
      process.kill(server.pid, 'SIGUSR1');
      url = /ws:\/\/\S+/.exec(await server.line(/Debugger listening on ws:\/\//, 5000))![0];
      inspectors.set(server.pid, url);
    }
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer')), 10_000);
      ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })));
      ws.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('close', () => reject(new Error('inspector closed')));
    });
    ws.close();
    return true;
  } catch {
    return false;
  }
}

export async function runMemory(cluster: Cluster, n: number, agents: number): Promise<MemoryResult> {
  const pool = AgentPool.start(agents);
  const node = cluster.nodes[0];
  try {
    await openIdle(pool, cluster, [cluster.urls[0]], Math.min(200, n), 'warm', 'warm');
    await pool.close('warm');
    await sleep(1000);
    const gc = await collectGarbage(node);
    await sleep(500);
    const before = rssBytes(node.pid);
    const opened = await openIdle(pool, cluster, [cluster.urls[0]], n, 'idle', 'idle');
    await sleep(2000);
    const after = rssBytes(node.pid);
    const afterGc = gc && (await collectGarbage(node)) ? (await sleep(500), rssBytes(node.pid)) : undefined;
    const perConn = (bytes: number) => (bytes - before) / 1024 / Math.max(1, opened.open);
    return {
      connections: opened.open, failed: opened.failed,
      rssBeforeMB: before / 2 ** 20, rssAfterMB: after / 2 ** 20,
      kbPerConn: perConn(after), kbPerConnAfterGc: afterGc === undefined ? undefined : perConn(afterGc),
    };
  } finally {
    await pool.stop();
  }
}
