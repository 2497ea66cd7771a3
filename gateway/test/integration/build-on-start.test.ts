/**
 * `npm start` runs what was built (scripts/build.mjs --if-stale, its "prestart"): it builds only
 * when an input changed since the last build, a failed build never reads as fresh, and starts
 * at the same moment take turns through one lock (scripts/build-lock.mjs) instead of writing
 * dist/ together.
 *
 * The build's bookkeeping is checked on a copy of scripts/ in a temporary root whose "tsc" is a
 * stand-in (counts its runs, can be slow or fail), so these never rewrite the real dist/ that
 * other test files are running. Two real `npm start` then come up on the dist/ built by the
 * globalSetup.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../..', import.meta.url));
const LOCK_MODULE = pathToFileURL(join(repo, 'scripts', 'build-lock.mjs')).href;

interface Run { code: number | null; out: string; ms: number }

/** Run a command to its end, stdout and stderr together. */
function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out, ms: Date.now() - started }));
  });
}

/** The stand-in for tsc: counts its runs, waits FAKE_TSC_MS, then fails (FAKE_TSC_FAIL) or emits main.js. */
const FAKE_TSC = `
const fs = require('fs'), path = require('path');
const root = path.join(__dirname, '..', '..', '..');
fs.appendFileSync(path.join(root, 'tsc-runs'), 'run\\n');
setTimeout(() => {
  if (process.env.FAKE_TSC_FAIL) { console.log('gateway/src/a.ts(1,1): error TS2322: fake'); process.exit(2); }
  fs.mkdirSync(path.join(root, 'dist', 'gateway', 'src'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dist', 'gateway', 'src', 'main.js'), '');
}, Number(process.env.FAKE_TSC_MS || 0));
`;

describe('scripts/build.mjs on a stand-in project', () => {
  let root: string;
  const build = (args: string[], env: Record<string, string> = {}) => run(process.execPath, [join(root, 'scripts', 'build.mjs'), ...args], { env });
  const tscRuns = () => (existsSync(join(root, 'tsc-runs')) ? readFileSync(join(root, 'tsc-runs'), 'utf8').split('\n').filter(Boolean).length : 0);
  const stamp = () => join(root, 'dist', '.build-stamp');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'build-on-start-'));
    mkdirSync(join(root, 'scripts'));
    for (const f of ['build.mjs', 'build-lock.mjs']) copyFileSync(join(repo, 'scripts', f), join(root, 'scripts', f));
    mkdirSync(join(root, 'gateway', 'src'), { recursive: true });
    writeFileSync(join(root, 'gateway', 'src', 'a.ts'), 'export const a = 1;\n');
    writeFileSync(join(root, 'gateway', 'src', 'a.lua'), 'return 1\n');
    writeFileSync(join(root, 'package.json'), '{"name":"stand-in","type":"module"}\n');
    writeFileSync(join(root, 'tsconfig.build.json'), '{}\n');
    const tsc = join(root, 'node_modules', 'typescript');
    mkdirSync(join(tsc, 'bin'), { recursive: true });
    writeFileSync(join(tsc, 'package.json'), '{"type":"commonjs"}\n');
    writeFileSync(join(tsc, 'bin', 'tsc'), FAKE_TSC);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('builds when the inputs changed and skips when they did not', async () => {
    expect((await build(['--check'])).code).toBe(1);
    const first = await build(['--if-stale']);
    expect(first.code, first.out).toBe(0);
    expect(tscRuns()).toBe(1);
    expect(existsSync(join(root, 'dist', 'gateway', 'src', 'a.lua'))).toBe(true);

    const second = await build(['--if-stale']);
    expect(second.out).toContain('dist/ is up to date');
    expect(tscRuns()).toBe(1);
    expect((await build(['--check'])).code).toBe(0);

    appendFileSync(join(root, 'gateway', 'src', 'a.ts'), 'export const b = 2;\n');
    expect((await build(['--check'])).code).toBe(1);
    expect((await build(['--if-stale'])).code).toBe(0);
    expect(tscRuns()).toBe(2);

    // Without --if-stale (npm run build, npm install, the tests' globalSetup) it always builds.
    expect((await build([])).code).toBe(0);
    expect(tscRuns()).toBe(3);
  });

  it('a failed build leaves no stamp, so the next start builds again', async () => {
    expect((await build(['--if-stale'])).code).toBe(0);
    appendFileSync(join(root, 'gateway', 'src', 'a.ts'), 'export const broken: number = "x";\n');
    const failed = await build(['--if-stale'], { FAKE_TSC_FAIL: '1' });
    expect(failed.code).toBe(1);
    expect(failed.out).toContain('error TS2322');
    expect(existsSync(stamp())).toBe(false);
    expect(existsSync(join(root, 'dist', '.build-lock'))).toBe(false);

    // Even with the inputs back as they were when the stamp was last written.
    writeFileSync(join(root, 'gateway', 'src', 'a.ts'), 'export const a = 1;\n');
    expect((await build(['--check'])).code).toBe(1);
    expect((await build(['--if-stale'])).code).toBe(0);
    expect(tscRuns()).toBe(3);
  });

  it('of three starts at once on stale inputs, one builds and the others wait for it', async () => {
    const runs = await Promise.all([1, 2, 3].map(() => build(['--if-stale'], { FAKE_TSC_MS: '400' })));
    for (const r of runs) expect(r.code, r.out).toBe(0);
    expect(tscRuns()).toBe(1);
    const waited = runs.filter((r) => r.out.includes('built while this start waited'));
    expect(waited).toHaveLength(2);
    for (const r of waited) expect(r.out).toMatch(/waiting for pid \d+, which is building dist\//);
    expect(existsSync(stamp())).toBe(true);
    expect(existsSync(join(root, 'dist', '.build-lock'))).toBe(false);
  });
});

describe('scripts/build-lock.mjs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'build-lock-'));
    // Holds the lock for HOLD_MS, logging when it enters and leaves.
    writeFileSync(join(dir, 'holder.mjs'), `
      import { appendFileSync } from 'node:fs';
      const { withLock } = await import(${JSON.stringify(LOCK_MODULE)});
      const [lock, log] = process.argv.slice(2);
      await withLock(lock, async () => {
        appendFileSync(log, 'in ' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, Number(process.env.HOLD_MS)));
        appendFileSync(log, 'out ' + process.pid + '\\n');
      });
    `);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const hold = (ms: number) => run(process.execPath, [join(dir, 'holder.mjs'), join(dir, 'lock'), join(dir, 'log')], { env: { HOLD_MS: String(ms) } });
  const log = () => readFileSync(join(dir, 'log'), 'utf8').split('\n').filter(Boolean);

  it('admits one process at a time', async () => {
    const runs = await Promise.all([hold(150), hold(150), hold(150)]);
    for (const r of runs) expect(r.code, r.out).toBe(0);
    const lines = log();
    expect(lines).toHaveLength(6);
    for (let i = 0; i < 6; i += 2) {
      expect(lines[i]).toMatch(/^in /);
      expect(lines[i + 1]).toBe(lines[i].replace('in', 'out'));
    }
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });

  it('takes over at once a lock whose owner is dead', async () => {
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['-e', '']);
      child.once('exit', () => resolve(child.pid!));
    });
    writeFileSync(join(dir, 'lock'), JSON.stringify({ pid: dead, host: hostname(), at: new Date().toISOString() }));
    const r = await hold(0);
    expect(r.code, r.out).toBe(0);
    expect(log()).toHaveLength(2);
    expect(r.ms).toBeLessThan(3000);
    expect(existsSync(join(dir, 'lock'))).toBe(false);
  });
});

describe('npm start', () => {
  const started: Array<ReturnType<typeof spawn>> = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      process.kill(-child.pid!, 'SIGKILL'); // npm, its shell and the gateway: one process group
    })));
  });

  /** `npm start` on port 0; resolves with its port and output once the gateway listens. */
  function npmStart(): Promise<{ port: number; out: string }> {
    const db = join(mkdtempSync(join(tmpdir(), 'build-on-start-db-')), 'users.db');
    const child = spawn('npm', ['start'], {
      cwd: repo,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', NODE_ENV: 'test', JWT_SECRET: 'build-on-start-test-secret-0123456789abcdef', DB_PATH: db },
    });
    started.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`npm start did not listen in time:\n${out}`)), 20_000);
      const onData = (d: Buffer) => {
        out += d;
        const m = /"msg":"gateway listening"[^\n]*"port":(\d+)|"port":(\d+)[^\n]*"msg":"gateway listening"/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve({ port: Number(m[1] ?? m[2]), out });
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited (${code}) before listening:\n${out}`));
      });
    });
  }

  it('two at once both come up on the built dist/ without building again', async (ctx) => {
    const check = await run(process.execPath, [join(repo, 'scripts', 'build.mjs'), '--check']);
    // Sources edited since the globalSetup's build: a start would rebuild the dist/ that other
    // test files are running from. Not this test's subject; the stand-in tests above cover it.
    if (check.code !== 0) ctx.skip();
    const [a, b] = await Promise.all([npmStart(), npmStart()]);
    for (const s of [a, b]) {
      expect(s.out).toContain('build: dist/ is up to date');
      expect(s.out).not.toContain('building dist/');
      const res = await fetch(`http://127.0.0.1:${s.port}/healthz`);
      expect(res.status).toBe(200);
    }
    expect(a.port).not.toBe(b.port);
  });
});
