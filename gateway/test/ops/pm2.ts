/**
 * pm2 from node_modules with a PM2_HOME of its own (a temp dir), so a test never touches
 * the user's daemon and can kill its own afterwards. Commands get only the environment
 * given here (pm2 hands the command's environment to the apps it starts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const ECOSYSTEM = join(ROOT, 'deploy', 'ecosystem.config.cjs');
export const RELOAD = join(ROOT, 'deploy', 'reload.mjs');
const PM2_BIN = join(ROOT, 'node_modules', 'pm2', 'bin', 'pm2');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Pm2Process {
  pm_id: number;
  name: string;
  pid: number;
  pm2_env: { status: string; restart_time: number; exec_mode: string; [k: string]: unknown };
}

export interface Pm2 {
  home: string;
  /** Runs `pm2 <args>`; never rejects, returns the exit code (-1 on timeout). */
  run(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<Run>;
  /** Runs `node <script> <args>` with this PM2_HOME. */
  node(script: string, args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<Run>;
  list(): Promise<Pm2Process[]>;
  /** `pm2 kill`, bounded; SIGKILLs the daemon and its apps by pid if that does not finish. */
  kill(timeoutMs?: number): Promise<void>;
}

function exec(file: string, args: string[], env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function createPm2(): Pm2 {
  const home = mkdtempSync(join(tmpdir(), 'gw-pm2-'));
  const base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? home, PM2_HOME: home };
  const run: Pm2['run'] = (args, env = {}, timeoutMs = 30_000) => exec(process.execPath, [PM2_BIN, ...args], { ...base, ...env }, timeoutMs);
  return {
    home,
    run,
    node: (script, args, env = {}, timeoutMs = 60_000) => exec(process.execPath, [script, ...args], { ...base, ...env }, timeoutMs),
    async list() {
      const r = await run(['jlist'], {}, 10_000);
      if (r.code !== 0) throw new Error(`pm2 jlist failed: ${r.stderr}`);
      // jlist prints the JSON array on its own line; anything else is pm2 chatter.
      const line = r.stdout.split('\n').find((l) => l.startsWith('['));
      return line ? (JSON.parse(line) as Pm2Process[]) : [];
    },
    async kill(timeoutMs = 20_000) {
      if (!existsSync(join(home, 'pm2.pid'))) return rmSync(home, { recursive: true, force: true });
      const pids = [readPid(join(home, 'pm2.pid'))];
      const pidDir = join(home, 'pids');
      if (existsSync(pidDir)) for (const f of readdirSync(pidDir)) pids.push(readPid(join(pidDir, f)));
      const r = await run(['kill'], {}, timeoutMs);
      if (r.code !== 0) {
        for (const pid of pids) {
          if (pid === undefined) continue;
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
