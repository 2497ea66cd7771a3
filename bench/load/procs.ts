/**
 * Processes the benchmark owns: servers under test, a private redis-server (the test
 * harness's, gateway/test/harness/redis.ts), and readings of their CPU time and resident
 * memory from /proc. Every child is spawned by us and stopped by its own pid.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest folder above this module holding package.json (works from bench/ and dist/bench/). */
export const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
export const DIST = join(ROOT, 'dist');

export { startRedis, type RedisServer } from '../../gateway/test/harness/redis.js';

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime and stime of a process (all its threads), in microseconds. */
export function cpuTimes(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 2 (comm) may contain spaces: split after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1e6) / CLK_TCK, sys: (Number(fields[12]) * 1e6) / CLK_TCK };
}

/** utime + stime of a process, in microseconds. */
export function cpuMicros(pid: number): number {
  const { user, sys } = cpuTimes(pid);
  return user + sys;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** The soft open-files limit a running process got. */
export function fdLimit(pid: number): number {
  const m = /Max open files\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/** Every child we spawned and have not seen exit: killed if this process exits first. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
function track(proc: ChildProcess): ChildProcess {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until truthy; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface ServerProcess {
  name: string;
  pid: number;
  port: number;
  proc: ChildProcess;
  /** The last lines the process printed, for error messages. */
  tail(): string;
  /** The first line (already printed or to come) matching `re`. */
  line(re: RegExp, timeoutMs: number): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Spawn `command args` and resolve once a printed line yields a port through `portOf`.
 * stdout and stderr are drained for the process's lifetime so it never blocks on a full pipe.
 */
export async function spawnServer(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, portOf: (line: string) => number | undefined, timeoutMs = 20_000): Promise<ServerProcess> {
  const proc = track(spawn(command, args, { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const line = (re: RegExp, timeoutMs: number) => new Promise<string>((resolve, reject) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return resolve(seen);
    const timer = setTimeout(() => {
      watchers.delete(watch);
      reject(new Error(`${name} printed no line matching ${re} within ${timeoutMs} ms`));
    }, timeoutMs);
    const watch = (l: string) => {
      if (!re.test(l)) return;
      clearTimeout(timer);
      watchers.delete(watch);
      resolve(l);
    };
    watchers.add(watch);
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${timeoutMs} ms:\n${lines.join('\n')}`)), timeoutMs);
    const onLine = (text: string) => {
      lines.push(text);
      if (lines.length > 40) lines.shift();
      for (const w of watchers) w(text);
      const p = portOf(text);
      if (p) {
        clearTimeout(timer);
        resolve(p);
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before listening:\n${lines.join('\n')}`));
    });
  });
  return {
    name, port, proc, pid: proc.pid!, line,
    tail: () => lines.join('\n'),
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(kill);
    },
  };
}

/** Whole-machine CPU counters from /proc/stat: busy and total ticks over all cores. */
export function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** Fraction of all cores that were busy between two machineTicks() readings. */
export function busyFraction(a: { busy: number; total: number }, b: { busy: number; total: number }): number {
  const total = b.total - a.total;
  return total > 0 ? (b.busy - a.busy) / total : 0;
}
