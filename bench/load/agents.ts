/**
 * The orchestrator's side of the load agents: fork them (compiled dist/bench/load/agent.js),
 * send commands, merge what they report. Each agent is its own process with its own
 * event loop and file-descriptor budget.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Command } from './agent.js';
import { cpuMicros, DIST } from './procs.js';
import { Histogram, type HistogramData } from './stats.js';

export interface ViewReport { frames: number; changes: number; online: number; complete: boolean; lastChangeAt: number }
export interface GroupStats { received: number; hist: Histogram; presenceFrames: number; open: number; views: ViewReport[] }
export interface OpenResult {
  failed: number;
  firstError?: string;
  /** Clients that connected only at their second attempt, and why the first failed. */
  retried: number;
  firstRetryReason?: string;
  startedAt: number;
  firstWelcome: number;
  lastWelcome: number;
  open: number;
}

let nextIndex = 0;

export class Agent {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<void>;

  private constructor(readonly proc: ChildProcess) {
    proc.on('message', (msg: { seq: number; ok: boolean; result?: unknown; error?: string }) => {
      const w = this.waiting.get(msg.seq);
      this.waiting.delete(msg.seq);
      if (msg.ok) w?.resolve(msg.result);
      else w?.reject(new Error(`agent: ${msg.error}`));
    });
    this.exited = new Promise((r) => proc.once('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error('agent exited'));
      this.waiting.clear();
      r();
    }));
  }

  static start(): Agent {
    nextIndex += 1;
    const proc = fork(join(DIST, 'bench', 'load', 'agent.js'), [], {
      env: { ...process.env, BENCH_AGENT_INDEX: String(nextIndex) },
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Agent(proc);
  }

  call<T = any>(cmd: Command): Promise<T> {
    this.seq += 1;
    const seq = this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.proc.send({ ...cmd, seq });
    });
  }

  cpu(): number {
    return cpuMicros(this.proc.pid!);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const kill = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await this.call({ cmd: 'close' }).catch(() => {});
    if (this.proc.connected) this.proc.disconnect();
    await this.exited;
    clearTimeout(kill);
  }
}

export class AgentPool {
  private constructor(readonly agents: Agent[]) {}

  static start(n: number): AgentPool {
    return new AgentPool(Array.from({ length: n }, () => Agent.start()));
  }

  /** Split `total` into near-equal shares, one per agent. */
  shares(total: number): number[] {
    const n = this.agents.length;
    return this.agents.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  }

  /** Open `total` clients spread over the agents; `make(share, first)` builds each agent's command. */
  async open(total: number, make: (count: number, firstIndex: number) => Command): Promise<OpenResult> {
    let first = 0;
    const calls = this.shares(total).map((count, i) => {
      const cmd = make(count, first);
      first += count;
      return count > 0 ? this.agents[i].call<OpenResult>(cmd) : undefined;
    });
    const results = (await Promise.all(calls)).filter((r): r is OpenResult => r !== undefined);
    return {
      failed: results.reduce((s, r) => s + r.failed, 0),
      firstError: results.find((r) => r.firstError)?.firstError,
      retried: results.reduce((s, r) => s + r.retried, 0),
      firstRetryReason: results.find((r) => r.firstRetryReason)?.firstRetryReason,
      startedAt: Math.min(...results.map((r) => r.startedAt)),
      firstWelcome: Math.min(...results.map((r) => r.firstWelcome)),
      lastWelcome: Math.max(...results.map((r) => r.lastWelcome)),
      open: results.reduce((s, r) => s + r.open, 0),
    };
  }

  /** Merged stats of one group over all agents. */
  async stats(group: string, reset = false): Promise<GroupStats> {
    const all = await Promise.all(this.agents.map((a) => a.call<Record<string, any>>({ cmd: 'stats', reset })));
    const merged: GroupStats = { received: 0, hist: new Histogram(), presenceFrames: 0, open: 0, views: [] };
    for (const s of all) {
      const g = s[group];
      if (!g) continue;
      merged.received += g.received;
      merged.hist.merge(g.hist as HistogramData);
      merged.presenceFrames += g.presenceFrames;
      merged.open += g.open;
      merged.views.push(...g.views);
    }
    return merged;
  }

  cpu(): number[] {
    return this.agents.map((a) => a.cpu());
  }

  async close(group: string): Promise<void> {
    await Promise.all(this.agents.map((a) => a.call({ cmd: 'close', group })));
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop()));
  }
}
