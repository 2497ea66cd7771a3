/**
 * The one fixture of tests that spawn gateways: every gateway, client and token a test file
 * creates goes through its `GatewayFixture`, so `teardown()` can close them all and then check
 * the promise every such file shares: no token the file minted (nor its signature part)
 * appears in any gateway's log. Create one per test file, at module level:
 *
 *   const fx = gatewayFixture();
 *   afterAll(() => fx.teardown());
 *
 * Also here: readings of a gateway process (RSS, a Prometheus series, liveness).
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { TestClient } from './client.js';
import { spawnGateway, tokenFor, type GatewayProcess } from './gateway.js';

export interface FixtureOptions {
  /** Environment every gateway of this fixture starts with; a gateway's own `env` wins. */
  env?: Record<string, string>;
  /** How `teardown()` stops the gateways: SIGTERM (default: a full drain, complete logs) or SIGKILL (at once). */
  stopSignal?: 'SIGTERM' | 'SIGKILL';
}

export interface GatewayFixture {
  /** A gateway child process with the fixture's environment and `env`, stopped by `teardown()`. */
  gateway(env?: Record<string, string>): Promise<GatewayProcess>;
  /** An HS256 token for the spawned gateways' secret, registered for the log check. */
  mint(userId: string, ttlSeconds?: number, name?: string): Promise<string>;
  /** Registers a token produced elsewhere (RS256, refresh tokens, deliberately bad ones) for the log check. */
  remember(token: string): string;
  /** A client of `userId` (a fresh token), connected and welcomed, closed by `teardown()`. */
  connect(gw: GatewayProcess, userId: string, ttlSeconds?: number): Promise<TestClient>;
  connectWith(gw: GatewayProcess, token: string): Promise<TestClient>;
  /** Hands a client connected some other way to `teardown()`. */
  track(client: TestClient): TestClient;
  /** Closes every client opened so far and waits until each is closed (for an `afterEach`). */
  closeClients(): Promise<void>;
  /** No registered token (or signature) in any gateway's log; call after the gateways stopped. */
  expectNoTokenInLogs(): void;
  /** Closes the clients, stops the gateways (`stopSignal`), then checks the logs. */
  teardown(): Promise<void>;
}

/** Debug logs (the most talkative the token check can face), no offline grace, no drain spread: the fault suite's gateways. */
export const FAULTS_ENV: Readonly<Record<string, string>> = { LOG_LEVEL: 'debug', DRAIN_SPREAD_MS: '0', PRESENCE_GRACE_MS: '0' };

export function gatewayFixture(options: FixtureOptions = {}): GatewayFixture {
  const gateways: GatewayProcess[] = [];
  const clients: TestClient[] = [];
  const tokens = new Set<string>();

  const remember = (token: string) => {
    tokens.add(token);
    return token;
  };
  const track = (client: TestClient) => {
    clients.push(client);
    return client;
  };
  const mint = async (userId: string, ttlSeconds = 600, name?: string) => remember(await tokenFor(userId, name, ttlSeconds));
  const connectWith = async (gw: GatewayProcess, token: string) => track(await TestClient.connect(gw.url, { token: remember(token) }));

  const expectNoTokenInLogs = () => {
    expect(gateways.length).toBeGreaterThan(0);
    expect(tokens.size).toBeGreaterThan(0);
    for (const gw of gateways) {
      const text = gw.logs.join('\n');
      for (const token of tokens) for (const n of needles(token)) {
        expect(text.includes(n), `a token minted by this file appears in the log of ${gw.nodeId}`).toBe(false);
      }
    }
  };

  return {
    async gateway(env = {}) {
      const gw = await spawnGateway({ ...options.env, ...env });
      gateways.push(gw);
      return gw;
    },
    mint,
    remember,
    connect: async (gw, userId, ttlSeconds) => connectWith(gw, await mint(userId, ttlSeconds)),
    connectWith,
    track,
    async closeClients() {
      const open = clients.splice(0);
      for (const c of open) c.close();
      await Promise.all(open.map((c) => c.waitClosed()));
    },
    expectNoTokenInLogs,
    async teardown() {
      for (const c of clients.splice(0)) c.close();
      await Promise.all(gateways.map((g) => g.kill(options.stopSignal ?? 'SIGTERM')));
      expectNoTokenInLogs();
    },
  };
}

/** The pieces of a token worth looking for in a log: the whole token and its signature. */
function needles(token: string): string[] {
  const parts = token.split('.');
  return [token, ...(parts.length === 3 && parts[2].length >= 16 ? [parts[2]] : [])];
}

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export const MB = 1024 * 1024;

/** Samples a process's RSS every `everyMs` until stopped; returns the peak. */
export function rssSampler(pid: number, everyMs = 100): { peak: () => number; stop: () => number } {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process exited; the test's own liveness check reports that
    }
  }, everyMs);
  return { peak: () => peak, stop: () => (clearInterval(timer), peak) };
}

/** Sum of one Prometheus series (all label sets) from a gateway's /metrics. */
export async function metric(gw: GatewayProcess, name: string): Promise<number> {
  const text = await (await fetch(`${gw.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Alive: the process has not exited and answers /healthz with 200. */
export async function alive(gw: GatewayProcess): Promise<boolean> {
  if (gw.proc.exitCode !== null || gw.proc.signalCode !== null) return false;
  return (await fetch(`${gw.http}/healthz`)).status === 200;
}
