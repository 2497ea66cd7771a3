/**
 * Gateway nodes as child processes running the compiled dist/ (built once by globalSetup),
 * so a test can SIGKILL one like a crashed node, or SIGSTOP it. Each listens on port 0 and
 * reports its port through its log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { signToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config.js';

const MAIN = fileURLToPath(new URL('../../../dist/gateway/src/main.js', import.meta.url));
export const TEST_SECRET = 'test-secret-for-integration-tests-0123456789';

export interface GatewayProcess {
  nodeId: string;
  port: number;
  url: string;
  http: string;
  proc: ChildProcess;
  logs: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

export function tempDbPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'gw-test-')), 'users.db');
}

export async function spawnGateway(env: Record<string, string>, timeoutMs = 15_000): Promise<GatewayProcess> {
  const nodeId = env.NODE_ID ?? `n${Math.random().toString(36).slice(2, 8)}`;
  const proc = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'info', NODE_ID: nodeId, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway ${nodeId} did not listen in time:\n${logs.join('\n')}`)), timeoutMs);
    const onLine = (line: string) => {
      logs.push(line);
      const m = /"msg":"gateway listening"/.test(line) ? /"port":(\d+)/.exec(line) : null;
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    createInterface({ input: proc.stdout! }).on('line', onLine);
    createInterface({ input: proc.stderr! }).on('line', onLine);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`gateway ${nodeId} exited (${code}) before listening:\n${logs.join('\n')}`));
    });
  });
  return {
    nodeId, port, proc, logs, exited,
    url: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    kill: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

const authConfig = loadConfig({ JWT_SECRET: TEST_SECRET }).auth;

/** A token signed with the secret the spawned gateways use. */
export async function tokenFor(userId: string, name?: string, ttlSeconds = 600): Promise<string> {
  return (await signToken(authConfig, { userId, name, ttlSeconds })).token;
}
