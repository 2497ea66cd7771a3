/**
 * The benchmark's own smoke test: a tiny fan-out against our gateway and the uWS relay peer
 * through the same code paths as `npm run bench` (agents, servers, /proc readings, table),
 * asserting that numbers come out, and the browser bundles of ours and the peers' clients.
 * Not a performance test: no thresholds on the numbers.
 *
 * globalSetup builds the gateway and client/dist (the bundle test measures the latter); the
 * bench's agent and peers are compiled here with esbuild (a transpile, one file each, into
 * dist/bench/) so child processes can run them.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleVerdict, formatBundles, measureBundles } from '../load/bundles.js';
import { runFanout, type FanoutResult } from '../load/fanout.js';
import { DIST, ROOT, startRedis, type RedisServer } from '../load/procs.js';
import { formatJitter, runJitter } from '../load/jitter.js';
import { runJoinStorm } from '../load/join-storm.js';
import { table, verdicts, type RunResults } from '../load/report.js';
import { startCluster } from '../load/targets.js';
import type { ServerKind } from '../load/wire.js';

const tsFiles = (dir: string) => readdirSync(join(ROOT, 'bench', dir)).filter((f) => f.endsWith('.ts')).map((f) => join(ROOT, 'bench', dir, f));

let redis: RedisServer;

beforeAll(async () => {
  await build({
    entryPoints: [...tsFiles('load'), ...tsFiles('peers')],
    outdir: join(DIST, 'bench'),
    outbase: join(ROOT, 'bench'),
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'error',
  });
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe('bench smoke: a tiny fan-out through the real code paths', () => {
  const results: Partial<Record<ServerKind, FanoutResult>> = {};
  const spec = { subscribers: 20, rate: 20, bytes: 128, durationMs: 2000, agents: 1, rounds: 1 };

  it.each(['ours', 'uws'] as const)('measures %s: deliveries, latency and CPU per message', async (kind) => {
    const cluster = await startCluster(kind, redis, 2);
    try {
      const r = await runFanout(cluster, spec);
      results[kind] = r;
      expect(r.sent).toBeGreaterThan(0);
      expect(r.delivered).toBeGreaterThan(0);
      expect(r.delivered).toBeLessThanOrEqual(r.expected);
      for (const v of [r.p50, r.p99, r.max, r.cpuUsPerMsg]) {
        expect(Number.isFinite(v)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(0);
      }
    } finally {
      await cluster.stop();
    }
  });

  it('prints a table with ours next to the relay, and a verdict per target', () => {
    const run: RunResults = { fanout: [{ spec, by: results }], memory: {}, connectionStorms: [], joinStorms: [], presenceStorms: [], http: [], jitter: [], errors: [] };
    const text = table(run);
    expect(text).toMatch(/\| fan-out 20 subs × 20\/s × 128 B: latency p99 ms \| \d/);
    expect(text).toMatch(/\d+\.\d\dx \| — \|/);
    expect(verdicts(run).map((v) => v.line.split(' ')[0])).toContain('NOT');
  });
});

describe('bench smoke: a small join storm next to the relay', () => {
  it.each(['ours', 'ours-watch-none', 'uws'] as const)('joins every client of %s and reports time, CPU and retries', async (variant) => {
    const r = await runJoinStorm(redis, variant, 60, 1);
    expect(r.failed).toBe(0);
    expect(r.joinedMs).toBeGreaterThan(0);
    // CPU comes from /proc in clock ticks (10 ms): a few dozen relay connects may read as 0.
    expect(Number.isFinite(r.nodeCpuMsPerConn) && r.nodeCpuMsPerConn >= 0).toBe(true);
    expect(r.retried).toBeLessThanOrEqual(r.clients);
  });
});

describe('bench smoke: recovery under jitter', () => {
  it('delivers every message once, in order, to clients that keep dropping and moving between nodes', async () => {
    const spec = { clients: 20, rate: 20, seconds: 3, meanDropMs: 700, maxWaitMs: 300 };
    const r = await runJitter(redis, spec, 'exact');
    expect(r.drops).toBeGreaterThan(20);
    expect(r.expected).toBeGreaterThan(0);
    expect({ delivered: r.delivered, duplicates: r.duplicates, orderBreaks: r.orderBreaks, unrecovered: r.unrecovered })
      .toEqual({ delivered: r.expected, duplicates: 0, orderBreaks: 0, unrecovered: 0 });
    expect(formatJitter([r])).toMatch(/\| ours, the client package \(rejoin with since \+ epoch\) \| \d+ \| 100\.000% \| 0 \| 0 \| 0 \|/);
  }, 60_000);
});

describe('bench smoke: browser bundles of ours and the peers\' clients', () => {
  it('bundles each client, prints the table and a PASS or MISS line', async () => {
    const rows = await measureBundles();
    expect(rows.map((r) => r.name.split(' ')[0])).toEqual(['ours:', 'socket.io-client', 'pusher-js', 'ably', 'ably/modular']);
    for (const r of rows) {
      expect(r.gzip).toBeGreaterThan(0);
      expect(r.gzip).toBeLessThan(r.minified);
    }
    expect(formatBundles(rows)).toMatch(/\| socket\.io-client [\d.]+ \| [\d.]+ KB \| [\d.]+ KB \| \d+\.\d\dx \|/);
    expect(bundleVerdict(rows).line).toMatch(/^(PASS|MISS) {2}client bundle/);
  });
});
