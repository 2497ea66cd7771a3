/**
 * HTTP, against our gateway only: GET /api/users/search over a seeded SQLite directory
 * (online flags from Redis, Bearer token), and /healthz as the HTTP floor of the same
 * server, both driven by autocannon from this process.
 */
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { SqliteUserDirectory } from '../../gateway/src/users/sqlite.js';

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Cannon;

export interface HttpResult {
  path: string;
  reqPerS: number;
  p50: number;
  p99: number;
  max: number;
  failures: number;
  /** This process's CPU over the run, % of one core: near 100 means autocannon was the limit. */
  generatorCpuPct: number;
}

const FIRST = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia', 'Peggy', 'Rupert', 'Sybil', 'Trent', 'Victor', 'Walter', 'Yasmin'];
const LAST = ['Smith', 'Jones', 'Brown', 'Taylor', 'Wilson', 'Davies', 'Evans', 'Thomas', 'Johnson', 'Roberts', 'Walker', 'Wright', 'Thompson', 'White', 'Hughes', 'Edwards', 'Green', 'Hall', 'Wood', 'Harris'];

/** Prefix, display-name, substring (FTS) and no-match queries, cycled by autocannon. */
export const QUERIES = ['alice', 'bob.jo', 'Smith', 'son12', 'ali', 'walker9', 'Grace W', 'zzq'];

/** A fresh database with `n` users; returns its path and the user ids. */
export function seedUsers(n: number): { dbPath: string; ids: string[] } {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'bench-users-')), 'users.db');
  const dir = new SqliteUserDirectory(dbPath);
  const ids: string[] = [];
  try {
    for (let start = 0; start < n; start += 10_000) {
      const batch = Array.from({ length: Math.min(10_000, n - start) }, (_, k) => {
        const i = start + k;
        const first = FIRST[i % FIRST.length];
        const last = LAST[Math.floor(i / FIRST.length) % LAST.length];
        return { username: `${first.toLowerCase()}.${last.toLowerCase()}${i}`, displayName: `${first} ${last}` };
      });
      ids.push(...dir.addMany(batch).map((u) => u.id));
    }
  } finally {
    dir.close();
  }
  return { dbPath, ids };
}

/** Mark every `every`-th user online in the cluster's `online_users` set. */
export async function markOnline(redis: Redis, prefix: string, ids: string[], every: number): Promise<number> {
  const chosen = ids.filter((_, i) => i % every === 0);
  for (let i = 0; i < chosen.length; i += 5000) await redis.sadd(`${prefix}online_users`, ...chosen.slice(i, i + 5000));
  return chosen.length;
}

export async function runHttp(base: string, paths: string[], token: string | undefined, durationS: number, connections = 50): Promise<HttpResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon({
    url: base, connections, duration: durationS,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    requests: paths.map((path) => ({ method: 'GET', path })),
  });
  const cpu = process.cpuUsage(cpu0);
  const wallUs = (performance.now() - t0) * 1000;
  return {
    path: paths.length === 1 ? paths[0] : `${paths[0].split('?')[0]} (${paths.length} queries)`,
    reqPerS: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max,
    failures: r.non2xx + r.errors + r.timeouts,
    generatorCpuPct: (100 * (cpu.user + cpu.system)) / wallUs,
  };
}

export function searchPaths(): string[] {
  return QUERIES.map((q) => `/api/users/search?q=${encodeURIComponent(q)}&limit=20`);
}
