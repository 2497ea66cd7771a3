/**
 * A real nginx owned by one test file, running deploy/nginx.conf: only the upstream `server`
 * lines, the `listen` port and the access log's path are replaced (with the test's gateways,
 * a free port and a temp file); every other directive is the deployed one, the access log's
 * format included. Everything nginx writes stays in a temp directory. A test that needs another
 * proxy in front (e.g. one that refuses WebSocket upgrades) passes `transform`, which gets the
 * site after those replacements and returns the site to run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../gateway/test/harness/ports.js';
import { waitFor } from '../../gateway/test/harness/wait.js';

export const DEPLOY_CONF = fileURLToPath(new URL('../../deploy/nginx.conf', import.meta.url));

export interface Nginx {
  port: number;
  url: string;
  dir: string;
  errorLog(): string;
  /** The server's access log, in the shipped format. */
  accessLog(): string;
  /** Stop nginx and remove its temp directory (logs included). */
  stop(): Promise<void>;
}

/** deploy/nginx.conf with `upstreams` as the gateway servers, `port` as the listen port and the access log in `logDir`. */
export function siteForTest(conf: string, upstreams: number[], port: number, logDir: string): string {
  const block = /upstream gateways \{[\s\S]*?\n\}/.exec(conf);
  if (!block) throw new Error('deploy/nginx.conf has no `upstream gateways { ... }` block');
  const serverLine = /^(\s*)server\s+\S+([^;\n]*);[^\n]*\n/gm;
  const first = serverLine.exec(block[0]);
  if (!first) throw new Error('the upstream block has no server line');
  const [, indent, params] = first;
  const servers = upstreams.map((p) => `${indent}server 127.0.0.1:${p}${params};\n`).join('');
  let replaced = false;
  const upstream = block[0].replace(serverLine, () => (replaced ? '' : ((replaced = true), servers)));
  const site = conf.replace(block[0], upstream);
  if (!/^\s*listen\s+\d+;/m.test(site)) throw new Error('deploy/nginx.conf has no `listen <port>;` line');
  const accessLog = /^(\s*)access_log\s+\S+(\s+\S+);/m;
  if (!accessLog.test(site)) throw new Error('deploy/nginx.conf has no `access_log <path> <format>;` line');
  return site
    .replace(/^(\s*)listen\s+\d+;/m, `$1listen 127.0.0.1:${port};`)
    .replace(accessLog, `$1access_log ${join(logDir, 'access.log')}$2;`);
}

export interface NginxOptions {
  /** The site to run, from the one siteForTest made of deploy/nginx.conf (default: unchanged). */
  transform?: (site: string) => string;
}

export async function startNginx(upstreams: number[], options: NginxOptions = {}): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'nginx-e2e-'));
  chmodSync(dir, 0o755); // nginx workers may run as another user and must reach the temp paths
  const port = await freePort();
  const shipped = siteForTest(readFileSync(DEPLOY_CONF, 'utf8'), upstreams, port, dir);
  const site = options.transform ? options.transform(shipped) : shipped;
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`).join('\n');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, [
    'worker_processes 1;',
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    `  access_log ${join(dir, 'default-access.log')};`,
    temp,
    site,
    '}',
    '',
  ].join('\n'));
  const read = (file: string) => {
    try {
      return readFileSync(join(dir, file), 'utf8');
    } catch {
      return '';
    }
  };
  const errorLog = () => read('error.log');
  const proc: ChildProcess = spawn('nginx', [
    '-p', dir, '-e', join(dir, 'error.log'), '-c', conf, '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await waitFor('nginx to answer /healthz', async () => {
      if (proc.exitCode !== null) throw new Error(`nginx exited ${proc.exitCode}: ${stderr}${errorLog()}`);
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
    }, 10_000, 50);
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    dir,
    errorLog,
    accessLog: () => read('access.log'),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); // fast shutdown, sockets included
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
