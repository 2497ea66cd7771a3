/**
 * Memory per idle connection: N clients connect to ONE node, join one action and stay idle;
 * the node's VmRSS after, minus before, over N. A warm-up round first, so lazily
 * initialised code paths are not charged to the connections.
 *
 * Two figures: RSS as the process holds it 2 s after the connections opened (what the brief
 * asks and what a host sees), and RSS after a full garbage collection requested through the
 * inspector (activated by SIGUSR1; servers start with --inspect-port=0): the difference is
 * garbage the connect path left behind, not state kept per connection.
 *
 * Then the marginal cost: more clients connect, up to a second, larger size, and the same two
 * figures are taken over those alone (the slope between the sizes), so heap the process grows
 * once (code, caches, pools) is not charged to the connections.
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
  /** Marginal cost between `connections` and `slope.to` connections. */
  slope?: { to: number; kbPerConn: number; kbPerConnAfterGc?: number };
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

/** RSS now, and after a full GC when the inspector answers (undefined otherwise). */
async function measure(node: ServerProcess, gc: boolean): Promise<{ rss: number; afterGc?: number }> {
  await sleep(2000);
  const rss = rssBytes(node.pid);
  const afterGc = gc && (await collectGarbage(node)) ? (await sleep(500), rssBytes(node.pid)) : undefined;
  return { rss, afterGc };
}

/** `sizes`: [first, second]; the second is optional (no slope then). */
export async function runMemory(cluster: Cluster, sizes: number[], agents: number): Promise<MemoryResult> {
  const pool = AgentPool.start(agents);
  const node = cluster.nodes[0];
  const [n, to] = sizes;
  try {
    await openIdle(pool, cluster, [cluster.urls[0]], Math.min(200, n), 'warm', 'warm');
    await pool.close('warm');
    await sleep(1000);
    const gc = await collectGarbage(node);
    await sleep(500);
    const before = rssBytes(node.pid);
    const opened = await openIdle(pool, cluster, [cluster.urls[0]], n, 'idle', 'idle');
    const first = await measure(node, gc);
    const kb = (bytes: number, count: number) => bytes / 1024 / Math.max(1, count);
    const result: MemoryResult = {
      connections: opened.open, failed: opened.failed,
      rssBeforeMB: before / 2 ** 20, rssAfterMB: first.rss / 2 ** 20,
      kbPerConn: kb(first.rss - before, opened.open),
      kbPerConnAfterGc: first.afterGc === undefined ? undefined : kb(first.afterGc - before, opened.open),
    };
    if (to && to > n) {
      const more = await openIdle(pool, cluster, [cluster.urls[0]], to - n, 'idle2', 'idle2_');
      const second = await measure(node, gc);
      result.failed += more.failed;
      result.slope = {
        to: opened.open + more.open,
        kbPerConn: kb(second.rss - first.rss, more.open),
        kbPerConnAfterGc: second.afterGc === undefined || first.afterGc === undefined ? undefined : kb(second.afterGc - first.afterGc, more.open),
      };
    }
    return result;
  } finally {
    await pool.stop();
  }
}
