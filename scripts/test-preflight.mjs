// Before `npm test` (the "pretest" script): are the programs the tests start on the PATH?
// Tests start their own redis-server, nginx, haproxy and Chromium on free loopback ports, and
// make certificates with openssl. Without them a run ends in one ENOENT per test file.
//
// - All there: exits 0 at once (one PATH scan, no child process).
// - Some missing, and this process may install (root, or `sudo -n true` works) with apt-get:
//   installs the Debian packages (noninteractive), checks again, exits 0 or 1.
// - Otherwise: exits 1 at once with one message naming the command to run.
// TEST_PREFLIGHT=off skips the check. For the tests of this script only: TEST_PREFLIGHT_UID
// pretends to be that user id (the non-root path, while CI runs as root), and
// TEST_PREFLIGHT_SBIN replaces the list of directories looked in for programs off the PATH.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A program the tests start, and the Debian package that provides it. */
export const NEEDS = [
  { bin: 'redis-server', pkg: 'redis-server' },
  { bin: 'redis-cli', pkg: 'redis-tools' },
  { bin: 'chromium', pkg: 'chromium' },
  { bin: 'nginx', pkg: 'nginx' },
  { bin: 'haproxy', pkg: 'haproxy' },
  { bin: 'openssl', pkg: 'openssl' },
];
/** Where Debian puts daemons (nginx, haproxy); not on a normal user's PATH. */
const SBIN = '/usr/local/sbin:/usr/sbin:/sbin';

export function findOnPath(bin, path) {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, bin), constants.X_OK);
      return join(dir, bin);
    } catch {
      // not in this directory: try the next
    }
  }
  return undefined;
}

/**
 * What to do, from what was found; no I/O.
 * @param {{ missing: {bin:string,pkg:string}[], offPath: {bin:string,dir:string}[], apt: boolean,
 *   root: boolean, sudo: boolean }} facts
 * @returns {{ kind: 'ok' } | { kind: 'install', sudo: boolean, packages: string[] } | { kind: 'stop', message: string }}
 */
export function decide({ missing, offPath, apt, root, sudo }) {
  if (missing.length === 0 && offPath.length === 0) return { kind: 'ok' };
  const packages = [...new Set(missing.map((n) => n.pkg))];
  if (missing.length > 0 && apt && (root || sudo)) return { kind: 'install', sudo: !root, packages };
  const lines = [];
  if (missing.length > 0) {
    const command = `${root ? '' : 'sudo '}apt-get install -y ${packages.join(' ')}`;
    lines.push(
      `npm test needs programs that are not on the PATH: ${names(missing)}.`,
      apt ? 'Install them with:' : "Install them with your system's package manager; on Debian or Ubuntu:",
      `  ${command}`,
    );
  }
  if (offPath.length > 0) {
    const dirs = [...new Set(offPath.map((o) => o.dir))];
    lines.push(
      `npm test needs ${names(offPath)} on the PATH; ${dirs.join(', ')} ${dirs.length === 1 ? 'has' : 'have'} ${offPath.length === 1 ? 'it' : 'them'} but is not on it:`,
      `  export PATH="$PATH:${dirs.join(':')}"`,
    );
  }
  lines.push('and run npm test again (TEST_PREFLIGHT=off skips this check).');
  return { kind: 'stop', message: lines.join('\n') };
}

function names(list) {
  return list.map((n) => n.bin).join(', ');
}

/** The facts decide() needs, from this machine. Starts `sudo` only when something is missing. */
function survey(env) {
  const path = env.PATH ?? '';
  const sbin = (env.TEST_PREFLIGHT_SBIN ?? SBIN).split(delimiter).filter(Boolean);
  const missing = [];
  const offPath = [];
  for (const need of NEEDS) {
    if (findOnPath(need.bin, path)) continue;
    const dir = sbin.find((d) => findOnPath(need.bin, d));
    if (dir) offPath.push({ bin: need.bin, dir });
    else missing.push(need);
  }
  if (missing.length === 0) return { missing, offPath, apt: false, root: false, sudo: false };
  const uid = env.TEST_PREFLIGHT_UID !== undefined ? Number(env.TEST_PREFLIGHT_UID) : process.getuid?.();
  const root = uid === 0;
  const apt = findOnPath('apt-get', path) !== undefined;
  const sudo = !root && apt && findOnPath('sudo', path) !== undefined &&
    spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', timeout: 5_000, env }).status === 0;
  return { missing, offPath, apt, root, sudo };
}

function install({ sudo, packages }, env) {
  console.log(`test-preflight: installing ${packages.join(' ')} (apt-get${sudo ? ' through sudo' : ''})`);
  const apt = (args) => {
    const argv = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
    const [cmd, ...rest] = sudo ? ['sudo', '-n', ...argv] : argv;
    const r = spawnSync(cmd, rest, { stdio: 'inherit', env });
    if (r.status !== 0) throw new Error(`${[cmd, ...rest].join(' ')} failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`})`);
  };
  apt(['update', '-qq']);
  apt(['install', '-y', '-qq', ...packages]);
}

function main(env) {
  if (env.TEST_PREFLIGHT === 'off') return 0;
  let action = decide(survey(env));
  if (action.kind === 'install') {
    try {
      install(action, env);
    } catch (err) {
      console.error(`test-preflight: ${err.message}`);
      console.error(`Install by hand: ${action.sudo ? 'sudo ' : ''}apt-get install -y ${action.packages.join(' ')}`);
      return 1;
    }
    action = decide(survey(env));
  }
  if (action.kind === 'ok') return 0;
  console.error(action.kind === 'stop' ? action.message : `test-preflight: still missing after the install: ${action.packages.join(' ')}`);
  return 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main(process.env);
