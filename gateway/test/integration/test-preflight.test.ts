/**
 * `npm test` on a fresh machine: scripts/test-preflight.mjs (its "pretest") finds the programs
 * the tests start, installs the missing ones with apt-get when it may, and otherwise stops at
 * once with the command to run. Run against a PATH of stand-ins (a fake apt-get that "installs"
 * by creating the programs, a fake sudo), so nothing on this machine is installed or removed.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const PREFLIGHT = fileURLToPath(new URL('../../../scripts/test-preflight.mjs', import.meta.url));
const PROGRAMS = ['redis-server', 'redis-cli', 'chromium', 'nginx', 'haproxy', 'openssl'];
const ALL_PACKAGES = 'redis-server redis-tools chromium nginx haproxy openssl';

/** Logs its arguments; `install` creates the programs of the packages named (APT_FAIL: exits 100). */
const FAKE_APT = `#!/bin/sh
PATH=/usr/bin:/bin
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> "$APT_LOG"
[ -n "$APT_FAIL" ] && exit 100
if [ "$1" = install ]; then
  for p in "$@"; do
    case "$p" in redis-tools) b=redis-cli ;; -*|install) b= ;; *) b=$p ;; esac
    [ -n "$b" ] && printf '#!/bin/sh\\n' > "$(dirname "$0")/$b" && chmod +x "$(dirname "$0")/$b"
  done
fi
exit 0
`;
/** Passwordless sudo: logs, then runs the command (with /usr/bin:/bin added, like sudo's secure_path). */
const FAKE_SUDO = `#!/bin/sh
[ "$1" = -n ] && shift
echo "sudo $*" >> "$APT_LOG"
PATH="$PATH:/usr/bin:/bin" exec "$@"
`;

describe('scripts/test-preflight.mjs', () => {
  let bin: string;
  let aptLog: string;

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'test-preflight-'));
    bin = join(dir, 'bin');
    aptLog = join(dir, 'apt.log');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/usr/bin/env', join(bin, 'env'));
  });
  afterEach(() => rmSync(join(bin, '..'), { recursive: true, force: true }));

  function script(name: string, text: string, dir = bin) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  const aptCalls = () => (existsSync(aptLog) ? readFileSync(aptLog, 'utf8').trim().split('\n') : []);

  /** Runs the preflight with PATH = the stand-ins only; as `uid` (root: 0). */
  function preflight(uid: number, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; ms: number }> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [PREFLIGHT], {
        env: { PATH: bin, TEST_PREFLIGHT_UID: String(uid), TEST_PREFLIGHT_SBIN: '', APT_LOG: aptLog, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.once('error', reject);
      child.once('exit', (code) => resolve({ code, out, ms: Date.now() - started }));
    });
  }

  it('passes at once, silently, when every program is on the PATH', async () => {
    for (const p of PROGRAMS) script(p, '#!/bin/sh\n');
    const r = await preflight(1000);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toBe('');
    expect(r.ms).toBeLessThan(1000);
  });

  it('without root or passwordless sudo, stops within a second naming the apt-get command', async () => {
    script('apt-get', FAKE_APT);
    script('redis-server', '#!/bin/sh\n');
    const r = await preflight(1000);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(1000);
    expect(r.out).toContain('npm test needs programs that are not on the PATH: redis-cli, chromium, nginx, haproxy, openssl.');
    expect(r.out).toContain('  sudo apt-get install -y redis-tools chromium nginx haproxy openssl\n');
    expect(r.out).toContain('TEST_PREFLIGHT=off');
    expect(aptCalls()).toEqual([]);
  });

  it('without apt-get, names the Debian command for whatever package manager there is', async () => {
    const r = await preflight(1000);
    expect(r.code).toBe(1);
    expect(r.out).toContain("your system's package manager; on Debian or Ubuntu:");
    expect(r.out).toContain(`  sudo apt-get install -y ${ALL_PACKAGES}\n`);
  });

  it('as root, installs what is missing with apt-get, noninteractive, then passes', async () => {
    script('apt-get', FAKE_APT);
    script('nginx', '#!/bin/sh\n');
    const r = await preflight(0);
    expect(r.code, r.out).toBe(0);
    expect(aptCalls()).toEqual([
      'DEBIAN_FRONTEND=noninteractive update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq redis-server redis-tools chromium haproxy openssl',
    ]);
    for (const p of PROGRAMS) expect(existsSync(join(bin, p)), p).toBe(true);
  });

  it('not root but with passwordless sudo, installs through `sudo -n`', async () => {
    script('apt-get', FAKE_APT);
    script('sudo', FAKE_SUDO);
    const r = await preflight(1000);
    expect(r.code, r.out).toBe(0);
    expect(aptCalls()).toEqual([
      'sudo true',
      'sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq',
      'DEBIAN_FRONTEND=noninteractive update -qq',
      `sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${ALL_PACKAGES}`,
      `DEBIAN_FRONTEND=noninteractive install -y -qq ${ALL_PACKAGES}`,
    ]);
  });

  it('a failed install stops with the command to run by hand', async () => {
    script('apt-get', FAKE_APT);
    const r = await preflight(0, { APT_FAIL: '1' });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`Install by hand: apt-get install -y ${ALL_PACKAGES}`);
  });

  it('a program installed off the PATH (nginx in /usr/sbin) is pointed at, not reinstalled', async () => {
    for (const p of PROGRAMS.filter((p) => p !== 'nginx')) script(p, '#!/bin/sh\n');
    const sbin = mkdtempSync(join(tmpdir(), 'test-preflight-sbin-'));
    script('nginx', '#!/bin/sh\n', sbin);
    script('apt-get', FAKE_APT);
    const r = await preflight(0, { TEST_PREFLIGHT_SBIN: sbin });
    rmSync(sbin, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.out).toContain(`export PATH="$PATH:${sbin}"`);
    expect(aptCalls()).toEqual([]);
  });

  it('TEST_PREFLIGHT=off skips the check', async () => {
    const r = await preflight(1000, { TEST_PREFLIGHT: 'off' });
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
  });
});
