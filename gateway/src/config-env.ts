/**
 * The environment variables the gateway reads, with their types, ranges and defaults: the
 * schema config.ts validates `process.env` against (README's configuration table lists them).
 */
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const optionalText = z.string().trim().min(1).optional();

/** uWebSockets.js aborts the process for idleTimeout values 1..7 or above 960: refuse them here. */
const idleTimeout = int(0, 960).refine((v) => v === 0 || v >= 8, 'must be 0 (off) or 8..960 seconds');

export const env = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535).default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  NODE_ID: z.string().regex(/^[A-Za-z0-9_.\-]{1,64}$/, 'letters, digits, _ . - (1-64)').optional(),
  REDIS_URL: z.string().url().optional(),
  REDIS_PREFIX: z.string().max(64).default(''),
  JWT_SECRET: optionalText,
  JWKS_URL: z.string().url().optional(),
  JWT_ISSUER: optionalText,
  JWT_AUDIENCE: optionalText,
  JWT_ALGORITHMS: list.optional(),
  JWT_CLOCK_SKEW_S: int(0, 300).default(30),
  DB_PATH: z.string().min(1).default('data/users.db'),
  ALLOWED_ORIGINS: list.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_PAYLOAD_BYTES: int(256, 16 * 1024 * 1024).default(64 * 1024),
  MAX_BACKPRESSURE_BYTES: int(16 * 1024, 256 * 1024 * 1024).default(1024 * 1024),
  IDLE_TIMEOUT_S: idleTimeout.default(60),
  MAX_ACTIONS_PER_CONNECTION: int(1, 10_000).default(100),
  WELCOME_ONLINE_LIMIT: int(0, 100_000).default(100),
  PRESENCE_LIST_MAX: int(0, 100_000_000).default(1000),
  PRESENCE_LEASE_MS: int(1000, 600_000).default(9000),
  PRESENCE_BATCH_MS: int(0, 1000).default(20),
  PRESENCE_BATCH_MAX_MS: int(0, 5000).optional(),
  AUTH_TIMEOUT_MS: int(100, 60_000).default(5000),
  SHUTDOWN_TIMEOUT_MS: int(100, 60_000).default(8000),
  LOGIN_TOKEN_TTL_S: int(60, 30 * 86_400).default(3600),
  TOKEN_MAX_TTL_S: int(60, 30 * 86_400).default(86_400),
  SESSION_MAX_AGE_S: int(300, 366 * 86_400).default(7 * 86_400),
  TOKEN_EXPIRY_WARNING_S: int(0, 3600).default(60),
  PRESENCE_GRACE_MS: int(0, 60_000).default(3000),
  DRAIN_SPREAD_MS: int(0, 60_000).default(1000),
  MSG_RATE_PER_S: int(1, 100_000).default(100),
  MSG_BURST: int(1, 100_000).default(200),
  RATE_STRIKES_BEFORE_CLOSE: int(1, 100_000).default(50),
  MAX_CONNECTIONS_PER_USER: int(0, 100_000).default(50),
  BAD_TOKEN_BURST: int(1, 100_000).default(20),
  CONNECT_RATE_PER_S: int(1, 10_000).default(5),
  CONNECT_BURST: int(1, 100_000).default(20),
  AUDIT_INTERVAL_MS: int(0, 3_600_000).default(30_000),
  TLS_CERT: optionalText,
  TLS_KEY: optionalText,
  HISTORY_ACTIONS: optionalText,
  CHANNELS_FILE: optionalText,
  CHANNELS_PROXY_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  API_KEYS: list.optional(),
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  INBOX_STREAM: z.enum(['on', 'off']).default('on'),
  AVATAR_MAX_BYTES: int(1024, 5 * 1024 * 1024).default(256 * 1024),
  TRUSTED_PROXIES: list.optional(),
  REDIS_SENTINELS: list.optional(),
  REDIS_CLUSTER_NODES: list.optional(),
  PRESENCE_PARTITIONS: int(1, 256).optional(),
  REDIS_SENTINEL_NAME: optionalText,
  EVENTS_MAXLEN: int(0, 100_000_000).optional(),
  WEBHOOK_URL: z.string().url().optional(),
  WEBHOOK_SECRET: z.string().min(32, 'at least 32 characters').optional(),
  WEBHOOK_EVENTS: list.optional(),
  WEBHOOK_BATCH: int(1, 1000).default(100),
  WEBHOOK_TIMEOUT_MS: int(100, 60_000).default(5000),
  ADMIN_SESSION_TTL_S: int(60, 7 * 86_400).default(8 * 3600),
});

/** The validated environment. */
export type Env = z.infer<typeof env>;
