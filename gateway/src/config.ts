/**
 * The gateway's configuration: read from the environment once, validated, frozen.
 * Every default lives in the schema (config-env.ts). An invalid value is a ConfigError naming the variable;
 * main.ts prints it and exits 1 before anything listens.
 */
import { ConfigError } from './errors.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { parseChannelPolicy, PolicyError, type ChannelPolicy } from './channels/policy.js';
import { parseHistoryRules, type HistoryRule } from './history/policy.js';
import { partitionPrefixes } from './presence/partitions.js';
import { env, type Env } from './config-env.js';


export type RawEnv = Record<string, string | undefined>;

export interface Config {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  nodeId: string;
  /** Redis to join: a URL, or Sentinels that name the current primary (failover followed by ioredis). */
  redis?: {
    url?: string;
    sentinels?: Array<{ host: string; port: number }>;
    sentinelName?: string;
    /** Redis Cluster seed nodes: every connection is an ioredis Cluster client. */
    clusterNodes?: Array<{ host: string; port: number }>;
    /** Prefix of every key and channel; in a cluster it carries the hash tag that keeps presence in one slot. */
    prefix: string;
    /**
     * Cluster only: prefix of the broker's sharded action channels and history keys, which carry
     * the action as their own hash tag (spread over the shards): `prefix` without its braces.
     */
    actionPrefix?: string;
    /**
     * The key prefix of each presence partition (presence/partitions.ts): `[prefix]` unless
     * presence is partitioned (Cluster only, PRESENCE_PARTITIONS, default 12 there).
     */
    presencePrefixes: string[];
  };
  auth: {
    /** HS256 secret bytes, when verifying with a shared secret. */
    secret?: Uint8Array;
    /** True when the secret was generated for development, not configured. */
    secretGenerated: boolean;
    jwksUrl?: string;
    issuer?: string;
    audience?: string;
    algorithms: string[];
    clockSkewS: number;
    timeoutMs: number;
    /** Longest lifetime a token may claim (exp - iat), and the oldest `iat` accepted. */
    maxTtlS: number;
    /** Absolute session lifetime from sign-in (`auth_time`): refreshes never extend past it. */
    sessionMaxAgeS: number;
  };
  dbPath: string;
  allowedOrigins?: string[];
  logLevel: string;
  ws: { maxPayloadBytes: number; maxBackpressureBytes: number; idleTimeoutS: number; maxActions: number };
  /** maxBatchMs: the longest presence window under churn (node/presence-feed.ts). */
  presence: { leaseMs: number; batchMs: number; maxBatchMs: number; welcomeOnlineLimit: number; listMax: number; graceMs: number; auditIntervalMs: number };
  limits: {
    /** Frames per second per connection, and the burst above it. */
    msgRatePerS: number;
    msgBurst: number;
    /** Rate-limited frames tolerated before the socket is closed with 4029. */
    strikesBeforeClose: number;
    /** Open connections per user across the cluster; 0 = unlimited. */
    connectionsPerUser: number;
    /** Failed upgrades per IP before 429 (refills at one per second). */
    badTokenBurst: number;
    /** New connections per user and node: a burst, refilled at this rate per second; past it 429. */
    connectRatePerS: number;
    connectBurst: number;
  };
  tokenExpiryWarningS: number;
  drainSpreadMs: number;
  tls?: { certFile: string; keyFile: string };
  /** Actions that keep history, from HISTORY_ACTIONS (pattern=count/age): the shorthand the channel policy falls back to. */
  history: HistoryRule[];
  /** Namespaces and their rules (CHANNELS_FILE; without it `default` is public + members, no room presence). */
  channels: ChannelPolicy;
  /** CHANNELS_PROXY_SECRET: signs the gateway's questions to `proxy` endpoints (X-Gateway-Signature). */
  channelsProxySecret?: string;
  /** Bearer token for GET /metrics from other hosts (METRICS_TOKEN); without it only this host may read it. */
  metricsToken?: string;
  /** Keys accepted by POST /api/publish (API_KEYS); empty: the publish API is off. */
  apiKeys: string[];
  /** Consume the Redis stream `<prefix>publish:in` for backend publishes (Redis mode only). */
  inbox: boolean;
  avatarMaxBytes: number;
  /** Peers whose X-Forwarded-For is believed (nginx, HAProxy); the client IP is the last untrusted hop. */
  trustedProxies: string[];
  shutdownTimeoutMs: number;
  /** Lifetime of tokens issued by POST /api/login. */
  loginTtlS: number;
  /** The event stream of presence and membership transitions (EVENTS_MAXLEN; 0 = off). */
  events: { maxLen: number };
  /** Deliver the event stream to an HTTP endpoint (WEBHOOK_URL). */
  webhook?: { url: string; secret: string; types?: string[]; batch: number; timeoutMs: number };
  /** The operator's page (/admin): an operator session's fixed lifetime from sign-in (ADMIN_SESSION_TTL_S). */
  admin: { sessionTtlS: number };
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'];

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function authFrom(e: Env, devSecret: (dbPath: string) => string): Config['auth'] {
  if (!e.JWT_SECRET && !e.JWKS_URL) {
    if (e.NODE_ENV === 'production') throw new ConfigError('JWT_SECRET or JWKS_URL is required when NODE_ENV=production');
  }
  if (e.JWT_SECRET && e.JWKS_URL) throw new ConfigError('set either JWT_SECRET or JWKS_URL, not both');
  const secretText = e.JWT_SECRET ?? (e.JWKS_URL ? undefined : devSecret(e.DB_PATH));
  const secret = secretText === undefined ? undefined : new TextEncoder().encode(secretText);
  if (secret && secret.byteLength < 32) throw new ConfigError('JWT_SECRET must be at least 32 bytes for HS256');
  const allowed = secret ? ['HS256'] : ASYMMETRIC;
  const algorithms = e.JWT_ALGORITHMS ?? allowed;
  const bad = algorithms.filter((a) => !allowed.includes(a));
  if (bad.length > 0) throw new ConfigError(`JWT_ALGORITHMS: ${bad.join(', ')} not usable with ${secret ? 'JWT_SECRET' : 'JWKS_URL'}`);
  if (e.LOGIN_TOKEN_TTL_S > e.TOKEN_MAX_TTL_S) throw new ConfigError('LOGIN_TOKEN_TTL_S must not exceed TOKEN_MAX_TTL_S');
  if (e.LOGIN_TOKEN_TTL_S > e.SESSION_MAX_AGE_S) throw new ConfigError('LOGIN_TOKEN_TTL_S must not exceed SESSION_MAX_AGE_S');
  return {
    secret, secretGenerated: !e.JWT_SECRET && !e.JWKS_URL, jwksUrl: e.JWKS_URL,
    issuer: e.JWT_ISSUER, audience: e.JWT_AUDIENCE, algorithms, clockSkewS: e.JWT_CLOCK_SKEW_S, timeoutMs: e.AUTH_TIMEOUT_MS,
    maxTtlS: e.TOKEN_MAX_TTL_S, sessionMaxAgeS: e.SESSION_MAX_AGE_S,
  };
}

function tlsFrom(e: Env): Config['tls'] {
  if (!e.TLS_CERT && !e.TLS_KEY) return undefined;
  if (!e.TLS_CERT || !e.TLS_KEY) throw new ConfigError('TLS_CERT and TLS_KEY go together');
  for (const [name, file] of [['TLS_CERT', e.TLS_CERT], ['TLS_KEY', e.TLS_KEY]]) {
    if (!existsSync(file)) throw new ConfigError(`${name}: no such file ${file}`);
  }
  return { certFile: e.TLS_CERT, keyFile: e.TLS_KEY };
}

function hostPorts(name: string, items: string[]): Array<{ host: string; port: number }> {
  return items.map((hp) => {
    const m = /^(.+):(\d{1,5})$/.exec(hp);
    if (!m || Number(m[2]) > 65535) throw new ConfigError(`${name}: "${hp}" is not host:port`);
    return { host: m[1], port: Number(m[2]) };
  });
}

/**
 * The two prefixes of cluster mode (docs/SCALING.md). Presence scripts change several keys at
 * once, so REDIS_PREFIX must hold a hash tag: Redis hashes only what lies between the first '{'
 * and the next '}', and an empty tag ('{}') hashes the whole name. Action channels and history
 * keys must spread over the shards instead, so they use the prefix without braces and put the
 * action in their own tag (`gw:action:{room}`).
 */
function clusterPrefixes(prefix: string): { prefix: string; actionPrefix: string } {
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  if (open < 0 || close < 0) throw new ConfigError(`REDIS_CLUSTER_NODES needs a hash-tagged REDIS_PREFIX such as {gw}: (got "${prefix}")`);
  if (close === open + 1) throw new ConfigError(`REDIS_PREFIX "${prefix}": its first hash tag is empty ('{}'), so Redis would hash whole key names; use one like {gw}:`);
  return { prefix, actionPrefix: prefix.replace(/[{}]/g, '') };
}

/** Presence partitions on a cluster (docs/SCALING.md); one Redis has one core, so partitions there would only cost. */
export const CLUSTER_PRESENCE_PARTITIONS = 12;

function presencePartitions(e: Env): number {
  if (e.REDIS_CLUSTER_NODES) return e.PRESENCE_PARTITIONS ?? CLUSTER_PRESENCE_PARTITIONS;
  if ((e.PRESENCE_PARTITIONS ?? 1) > 1) throw new ConfigError('PRESENCE_PARTITIONS above 1 needs REDIS_CLUSTER_NODES: partitions spread presence over the shards of a Redis Cluster');
  return 1;
}

function redisFrom(e: Env): Config['redis'] {
  const ways = [e.REDIS_URL, e.REDIS_SENTINELS, e.REDIS_CLUSTER_NODES].filter(Boolean).length;
  if (ways > 1) throw new ConfigError('set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES');
  const partitions = presencePartitions(e);
  if (e.REDIS_CLUSTER_NODES) {
    const prefixes = clusterPrefixes(e.REDIS_PREFIX);
    return { clusterNodes: hostPorts('REDIS_CLUSTER_NODES', e.REDIS_CLUSTER_NODES), ...prefixes, presencePrefixes: partitionPrefixes(prefixes.prefix, partitions) };
  }
  const presencePrefixes = [e.REDIS_PREFIX];
  if (!e.REDIS_SENTINELS) return e.REDIS_URL ? { url: e.REDIS_URL, prefix: e.REDIS_PREFIX, presencePrefixes } : undefined;
  if (!e.REDIS_SENTINEL_NAME) throw new ConfigError('REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the monitored primary)');
  return { sentinels: hostPorts('REDIS_SENTINELS', e.REDIS_SENTINELS), sentinelName: e.REDIS_SENTINEL_NAME, prefix: e.REDIS_PREFIX, presencePrefixes };
}

function historyFrom(e: Env): HistoryRule[] {
  try {
    return parseHistoryRules(e.HISTORY_ACTIONS);
  } catch (err) {
    throw new ConfigError(`HISTORY_ACTIONS: ${(err as Error).message}`);
  }
}

function channelsFrom(e: Env, history: HistoryRule[]): ChannelPolicy {
  let text: string | undefined;
  if (e.CHANNELS_FILE) {
    if (!existsSync(e.CHANNELS_FILE)) throw new ConfigError(`CHANNELS_FILE: no such file ${e.CHANNELS_FILE}`);
    text = readFileSync(e.CHANNELS_FILE, 'utf8');
  }
  try {
    return parseChannelPolicy(text, history);
  } catch (err) {
    if (err instanceof PolicyError) throw new ConfigError(`CHANNELS_FILE (${e.CHANNELS_FILE}): ${err.message}`);
    throw err;
  }
}

function apiKeysFrom(e: Env): string[] {
  const keys = e.API_KEYS ?? [];
  if (keys.some((k) => k.length < 16)) throw new ConfigError('API_KEYS: each key must be at least 16 characters');
  return keys;
}

const EVENT_TYPES = ['online', 'offline', 'joined', 'left'];

/** PRESENCE_BATCH_MAX_MS: at least PRESENCE_BATCH_MS; by default 250 ms (4 frames/s under churn). */
function maxBatchMs(e: Env): number {
  const max = e.PRESENCE_BATCH_MAX_MS ?? Math.max(250, e.PRESENCE_BATCH_MS);
  if (max < e.PRESENCE_BATCH_MS) throw new ConfigError(`PRESENCE_BATCH_MAX_MS (${max}) must not be below PRESENCE_BATCH_MS (${e.PRESENCE_BATCH_MS})`);
  return max;
}

function eventsFrom(e: Env): Pick<Config, 'events' | 'webhook'> {
  const hasRedis = Boolean(e.REDIS_URL || e.REDIS_SENTINELS || e.REDIS_CLUSTER_NODES);
  const maxLen = e.EVENTS_MAXLEN ?? (hasRedis ? 100_000 : 10_000);
  if (!e.WEBHOOK_URL) {
    if (e.WEBHOOK_SECRET || e.WEBHOOK_EVENTS) throw new ConfigError('WEBHOOK_SECRET and WEBHOOK_EVENTS need WEBHOOK_URL');
    return { events: { maxLen } };
  }
  if (!e.WEBHOOK_SECRET) throw new ConfigError('WEBHOOK_URL needs WEBHOOK_SECRET (at least 32 characters) to sign requests');
  if (maxLen === 0) throw new ConfigError('WEBHOOK_URL delivers the event stream: EVENTS_MAXLEN must not be 0');
  if (presencePartitions(e) > 1) {
    throw new ConfigError('WEBHOOK_URL needs one event stream, but partitioned presence writes one per partition: set PRESENCE_PARTITIONS=1 on a cluster that delivers webhooks');
  }
  const bad = (e.WEBHOOK_EVENTS ?? []).filter((t) => !EVENT_TYPES.includes(t));
  if (bad.length > 0) throw new ConfigError(`WEBHOOK_EVENTS: unknown event type ${bad.join(', ')} (use ${EVENT_TYPES.join(', ')})`);
  return {
    events: { maxLen },
    webhook: { url: e.WEBHOOK_URL, secret: e.WEBHOOK_SECRET, types: e.WEBHOOK_EVENTS, batch: e.WEBHOOK_BATCH, timeoutMs: e.WEBHOOK_TIMEOUT_MS },
  };
}

/**
 * Parse the environment. `devSecret(dbPath)` supplies the development HS256 secret when none
 * is configured (main.ts keeps one beside the database so the token CLI and local gateways share it).
 */
export function loadConfig(
  raw: RawEnv,
  devSecret: (dbPath: string) => string = () => randomBytes(32).toString('base64url'),
): Readonly<Config> {
  const cleaned = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = env.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const history = historyFrom(e);
  return deepFreeze<Config>({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    nodeId: e.NODE_ID ?? `${hostname().replace(/[^A-Za-z0-9_.\-]/g, '-').slice(0, 40)}-${process.pid}`,
    redis: redisFrom(e),
    auth: authFrom(e, devSecret),
    dbPath: e.DB_PATH,
    allowedOrigins: e.ALLOWED_ORIGINS,
    logLevel: e.LOG_LEVEL,
    ws: {
      maxPayloadBytes: e.MAX_PAYLOAD_BYTES, maxBackpressureBytes: e.MAX_BACKPRESSURE_BYTES,
      idleTimeoutS: e.IDLE_TIMEOUT_S, maxActions: e.MAX_ACTIONS_PER_CONNECTION,
    },
    presence: {
      leaseMs: e.PRESENCE_LEASE_MS, batchMs: e.PRESENCE_BATCH_MS, maxBatchMs: maxBatchMs(e), welcomeOnlineLimit: e.WELCOME_ONLINE_LIMIT, listMax: e.PRESENCE_LIST_MAX,
      graceMs: e.PRESENCE_GRACE_MS, auditIntervalMs: e.AUDIT_INTERVAL_MS,
    },
    limits: {
      msgRatePerS: e.MSG_RATE_PER_S, msgBurst: e.MSG_BURST, strikesBeforeClose: e.RATE_STRIKES_BEFORE_CLOSE,
      connectionsPerUser: e.MAX_CONNECTIONS_PER_USER, badTokenBurst: e.BAD_TOKEN_BURST,
      connectRatePerS: e.CONNECT_RATE_PER_S, connectBurst: e.CONNECT_BURST,
    },
    tokenExpiryWarningS: e.TOKEN_EXPIRY_WARNING_S,
    drainSpreadMs: e.DRAIN_SPREAD_MS,
    tls: tlsFrom(e),
    history,
    channels: channelsFrom(e, history),
    channelsProxySecret: e.CHANNELS_PROXY_SECRET,
    apiKeys: apiKeysFrom(e),
    metricsToken: e.METRICS_TOKEN,
    inbox: e.INBOX_STREAM === 'on',
    avatarMaxBytes: e.AVATAR_MAX_BYTES,
    trustedProxies: e.TRUSTED_PROXIES ?? [],
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    loginTtlS: e.LOGIN_TOKEN_TTL_S,
    ...eventsFrom(e),
    admin: { sessionTtlS: e.ADMIN_SESSION_TTL_S },
  });
}
