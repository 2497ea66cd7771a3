/**
 * Shared fixture of the fault-injection suite: every gateway, client and token a test file
 * creates goes through here, so `teardown()` can close them all and then check the one
 * promise every file shares: no token this file minted (nor its signature part) appears in
 * any gateway's log. Each test file runs in its own worker, so these registries are per file.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { TestClient } from '../harness/client.js';
import { spawnGateway, tokenFor, type GatewayProcess } from '../harness/gateway.js';

const gateways: GatewayProcess[] = [];
const clients: TestClient[] = [];
const tokens = new Set<string>();

/** Register a token produced elsewhere (RS256, refresh tokens, deliberately bad ones). */
export function remember(token: string): string {
  tokens.add(token);
  return token;
}

/** An HS256 token for the spawned gateways' secret, registered for the log check. */
export async function mint(userId: string, ttlSeconds = 600, name?: string): Promise<string> {
  return remember(await tokenFor(userId, name, ttlSeconds));
}

/** A gateway child process at debug log level (the most talkative the token check can face), no offline grace, no drain spread. */
export async function gateway(env: Record<string, string>): Promise<GatewayProcess> {
  const gw = await spawnGateway({ LOG_LEVEL: 'debug', DRAIN_SPREAD_MS: '0', PRESENCE_GRACE_MS: '0', ...env });
  gateways.push(gw);
  return gw;
}

export async function connect(gw: GatewayProcess, userId: string, ttlSeconds?: number): Promise<TestClient> {
  return connectWith(gw, await mint(userId, ttlSeconds));
}

export async function connectWith(gw: GatewayProcess, token: string): Promise<TestClient> {
  const c = await TestClient.connect(gw.url, { token: remember(token) });
  clients.push(c);
  return c;
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

/** The pieces of a token worth looking for in a log: the whole token and its signature. */
function needles(token: string): string[] {
  const parts = token.split('.');
  return [token, ...(parts.length === 3 && parts[2].length >= 16 ? [parts[2]] : [])];
}

/** No registered token (or signature) in any gateway's log; call after the gateways stopped. */
export function expectNoTokenInLogs(): void {
  expect(gateways.length).toBeGreaterThan(0);
  expect(tokens.size).toBeGreaterThan(0);
  for (const gw of gateways) {
    const text = gw.logs.join('\n');
    for (const token of tokens) for (const n of needles(token)) {
      expect(text.includes(n), `a token minted by this file appears in the log of ${gw.nodeId}`).toBe(false);
    }
  }
}

/** Close clients, stop gateways (SIGTERM, so logs are complete), then check the logs. */
export async function teardown(): Promise<void> {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(gateways.map((g) => g.kill('SIGTERM')));
  expectNoTokenInLogs();
}
