/**
 * Servers under test, started as child processes on one Redis: our gateway
 * (dist/gateway/src/main.js) and the three peers (dist/bench/peers/*.js).
 */
import { SignJWT } from 'jose';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST, spawnServer, type RedisServer, type ServerProcess } from './procs.js';
import type { ServerKind } from './wire.js';

/**
 * Gateway settings for loads whose watchers follow every user through the `*` feed: a
 * PRESENCE_LIST_MAX above any load keeps the feed listing (past the default it sends counts).
 */
export const LISTED_FEED = { PRESENCE_LIST_MAX: String(100_000_000) };

/** HS256 secret our gateway verifies the agents' tokens with (>= 32 bytes). */
export const BENCH_SECRET = 'bench-secret-not-for-production-0123456789abcdef';

/** An access token for `userId`, signed with BENCH_SECRET, valid for an hour. */
export function benchToken(userId: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600).sign(new TextEncoder().encode(BENCH_SECRET));
}

const PEER_FILES: Record<Exclude<ServerKind, 'ours'>, string> = {
  uws: 'uws-relay.js',
  ws: 'ws-redis.js',
  socketio: 'socketio.js',
};

export interface NodeOptions {
  /** Ours: the SQLite file (a fresh temp file when absent). */
  dbPath?: string;
  /** Ours: Redis key prefix shared by the cluster. */
  prefix?: string;
  /** Raise the open-files limit to this many (as far as the hard limit allows). */
  nofile?: number;
  /** Node flags for the server process, e.g. --cpu-prof. */
  nodeFlags?: string[];
  env?: Record<string, string>;
}

export interface Cluster {
  kind: ServerKind;
  nodes: ServerProcess[];
  /** ws://127.0.0.1:port per node. */
  urls: string[];
  /** http://127.0.0.1:port per node. */
  http: string[];
  prefix: string;
  stop(): Promise<void>;
}

const peerPort = (line: string) => {
  const m = /^listening (\d+)$/.exec(line.trim());
  return m ? Number(m[1]) : undefined;
};
const gatewayPort = (line: string) => {
  const m = /"msg":"gateway listening"/.test(line) ? /"port":(\d+)/.exec(line) : null;
  return m ? Number(m[1]) : undefined;
};

/** `node ...` directly, or through bash when the fd limit must be raised first. */
function command(args: string[], nofile?: number): [string, string[]] {
  if (!nofile) return [process.execPath, args];
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['bash', ['-c', `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec ${quoted}`]];
}

function gatewayEnv(redis: RedisServer, id: string, opts: NodeOptions, dbPath: string): Record<string, string> {
  return {
    NODE_ENV: 'production', REDIS_URL: redis.url, REDIS_PREFIX: opts.prefix ?? 'bench:', PORT: '0', HOST: '127.0.0.1',
    NODE_ID: id, JWT_SECRET: BENCH_SECRET, DB_PATH: dbPath, LOG_LEVEL: 'info',
    MAX_BACKPRESSURE_BYTES: String(4 * 1024 * 1024), ...opts.env,
  };
}

/** Our gateway's entry; BENCH_GATEWAY_MAIN points at another build (an A/B of a patch) instead. */
const GATEWAY_MAIN = process.env.BENCH_GATEWAY_MAIN ?? join(DIST, 'gateway', 'src', 'main.js');

export async function startNode(kind: ServerKind, redis: RedisServer, id: string, opts: NodeOptions = {}): Promise<ServerProcess> {
  // --inspect-port=0: SIGUSR1 opens the inspector on a free port (memory.ts asks it for a full GC).
  const flags = ['--inspect-port=0', ...(opts.nodeFlags ?? [])];
  if (kind === 'ours') {
    const dbPath = opts.dbPath ?? join(mkdtempSync(join(tmpdir(), 'bench-db-')), 'users.db');
    const [cmd, args] = command([...flags, GATEWAY_MAIN], opts.nofile);
    return spawnServer(`ours ${id}`, cmd, args, gatewayEnv(redis, id, opts, dbPath), gatewayPort);
  }
  const [cmd, args] = command([...flags, join(DIST, 'bench', 'peers', PEER_FILES[kind])], opts.nofile);
  return spawnServer(`${kind} ${id}`, cmd, args, { REDIS_URL: redis.url, PORT: '0', HOST: '127.0.0.1', ...opts.env }, peerPort);
}

let clusters = 0;

/** `count` nodes of one kind on `redis`; ours share a fresh Redis prefix and one database file. */
export async function startCluster(kind: ServerKind, redis: RedisServer, count: number, opts: NodeOptions = {}): Promise<Cluster> {
  clusters += 1;
  const prefix = opts.prefix ?? `bench${process.pid}_${clusters}:`;
  const dbPath = opts.dbPath ?? join(mkdtempSync(join(tmpdir(), 'bench-db-')), 'users.db');
  const nodes: ServerProcess[] = [];
  try {
    // One at a time: our first node migrates the database before the second opens it.
    for (let i = 0; i < count; i += 1) nodes.push(await startNode(kind, redis, `${kind}${clusters}n${i + 1}`, { ...opts, prefix, dbPath }));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    kind, nodes, prefix,
    urls: nodes.map((n) => `ws://127.0.0.1:${n.port}`),
    http: nodes.map((n) => `http://127.0.0.1:${n.port}`),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
