/** Unit: the environment is validated once, with every default in one place, and frozen. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { loadConfig } from '../../src/config.js';

const SECRET = 'x'.repeat(32);

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig({ JWT_SECRET: SECRET });
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', dbPath: 'data/users.db', redis: undefined, logLevel: 'info' });
    expect(c.ws).toEqual({ maxPayloadBytes: 65536, maxBackpressureBytes: 1048576, idleTimeoutS: 60, maxActions: 100 });
    expect(c.auth.algorithms).toEqual(['HS256']);
    expect(c.nodeId).toMatch(/-\d+$/);
    expect(Object.isFrozen(c) && Object.isFrozen(c.ws)).toBe(true);
  });

  it('grows the presence window under churn up to 250 ms by default, never below PRESENCE_BATCH_MS', () => {
    expect(loadConfig({ JWT_SECRET: SECRET }).presence).toMatchObject({ batchMs: 20, maxBatchMs: 250 });
    expect(loadConfig({ JWT_SECRET: SECRET, PRESENCE_BATCH_MS: '500' }).presence).toMatchObject({ batchMs: 500, maxBatchMs: 500 });
    expect(loadConfig({ JWT_SECRET: SECRET, PRESENCE_BATCH_MAX_MS: '20' }).presence).toMatchObject({ batchMs: 20, maxBatchMs: 20 });
  });

  it('keeps an empty Redis prefix by default so the set is literally online_users', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, REDIS_URL: 'redis://127.0.0.1:6390' }).redis).toEqual({ url: 'redis://127.0.0.1:6390', prefix: '', presencePrefixes: [''] });
  });

  it('in cluster mode, keeps the hash-tagged prefix for presence and strips its braces for action channels and history', () => {
    const cluster = loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001', REDIS_PREFIX: '{gw}:' }).redis!;
    expect(cluster).toMatchObject({ clusterNodes: [{ host: '127.0.0.1', port: 7000 }, { host: '127.0.0.1', port: 7001 }], prefix: '{gw}:', actionPrefix: 'gw:' });
    expect(loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: 'app:{eu}:' }).redis).toMatchObject({ prefix: 'app:{eu}:', actionPrefix: 'app:eu:' });
    // Presence is partitioned on a cluster (12 by default), each partition its own hash tag.
    expect(cluster.presencePrefixes).toHaveLength(12);
    expect(cluster.presencePrefixes.every((p) => /^\{gw:\d+(\.\d+)?\}:$/.test(p))).toBe(true);
    expect(loadConfig({ JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: '{gw}:', PRESENCE_PARTITIONS: '1' }).redis!.presencePrefixes).toEqual(['{gw}:']);
    expect(() => loadConfig({ JWT_SECRET: SECRET, REDIS_URL: 'redis://x:1', PRESENCE_PARTITIONS: '4' })).toThrow(/PRESENCE_PARTITIONS above 1 needs REDIS_CLUSTER_NODES/);
    expect(() => loadConfig({
      JWT_SECRET: SECRET, REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: '{gw}:', WEBHOOK_URL: 'http://127.0.0.1:9/hook', WEBHOOK_SECRET: 'w'.repeat(32),
    })).toThrow(/PRESENCE_PARTITIONS=1/);
    // Outside a cluster, action names stay under REDIS_PREFIX as they always were.
    expect(loadConfig({ JWT_SECRET: SECRET, REDIS_URL: 'redis://127.0.0.1:6390', REDIS_PREFIX: '{gw}:' }).redis).not.toHaveProperty('actionPrefix');
  });

  it.each([
    [{ PORT: '70000' }, /PORT/],
    [{ PORT: 'abc' }, /PORT/],
    [{ IDLE_TIMEOUT_S: '5' }, /IDLE_TIMEOUT_S/],
    [{ IDLE_TIMEOUT_S: '961' }, /IDLE_TIMEOUT_S/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ NODE_ID: 'has space' }, /NODE_ID/],
    [{ JWT_SECRET: 'short' }, /32 bytes/],
    [{ JWKS_URL: 'https://idp.example/jwks' }, /either JWT_SECRET or JWKS_URL/],
    [{ JWT_ALGORITHMS: 'RS256' }, /JWT_ALGORITHMS/],
    [{ REDIS_SENTINELS: 'a:1' }, /REDIS_SENTINEL_NAME/],
    [{ REDIS_SENTINELS: 'nohost', REDIS_SENTINEL_NAME: 'm' }, /host:port/],
    [{ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://x:1' }, /one of REDIS_URL, REDIS_SENTINELS/],
    [{ REDIS_CLUSTER_NODES: 'a:1' }, /hash-tagged REDIS_PREFIX/],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: 'gw:' }, /hash-tagged REDIS_PREFIX/],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: 'gw}:{' }, /hash-tagged REDIS_PREFIX/],
    [{ REDIS_CLUSTER_NODES: 'a:1', REDIS_PREFIX: '{}{gw}:' }, /first hash tag is empty/],
    [{ HISTORY_ACTIONS: 'news=0/5m' }, /HISTORY_ACTIONS/],
    [{ HISTORY_ACTIONS: 'news' }, /HISTORY_ACTIONS/],
    [{ API_KEYS: 'short' }, /API_KEYS/],
    [{ TLS_CERT: '/nonexistent.pem', TLS_KEY: '/nonexistent.key' }, /TLS_CERT/],
    [{ TLS_CERT: '/nonexistent.pem' }, /go together/],
    [{ PRESENCE_BATCH_MS: '50', PRESENCE_BATCH_MAX_MS: '40' }, /PRESENCE_BATCH_MAX_MS \(40\) must not be below PRESENCE_BATCH_MS/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig({ JWT_SECRET: SECRET, ...env })).toThrow(ConfigError);
    expect(() => loadConfig({ JWT_SECRET: SECRET, ...env })).toThrow(message);
  });

  it('reads Sentinels and history rules', () => {
    const c = loadConfig({ JWT_SECRET: SECRET, REDIS_SENTINELS: 's1:26379, s2:26380', REDIS_SENTINEL_NAME: 'mymaster', HISTORY_ACTIONS: 'news*=100/5m,tours=1/1h' });
    expect(c.redis).toEqual({ sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }], sentinelName: 'mymaster', prefix: '', presencePrefixes: [''] });
    expect(c.history.map((r) => [r.pattern, r.policy])).toEqual([['news*', { count: 100, ageMs: 300_000 }], ['tours', { count: 1, ageMs: 3_600_000 }]]);
    expect(c.history[0].match.test('news-eu')).toBe(true);
    expect(c.history[0].match.test('xnews')).toBe(false);
  });

  it('accepts idle timeout 0 (off) and 8..960', () => {
    expect(loadConfig({ JWT_SECRET: SECRET, IDLE_TIMEOUT_S: '0' }).ws.idleTimeoutS).toBe(0);
    expect(loadConfig({ JWT_SECRET: SECRET, IDLE_TIMEOUT_S: '8' }).ws.idleTimeoutS).toBe(8);
  });

  it('uses a development secret only outside production', () => {
    const dev = loadConfig({}, () => 'd'.repeat(40));
    expect(dev.auth.secretGenerated).toBe(true);
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(/JWT_SECRET or JWKS_URL is required/);
  });

  it('offers asymmetric algorithms with JWKS_URL', () => {
    const c = loadConfig({ JWKS_URL: 'https://idp.example/.well-known/jwks.json', JWT_ISSUER: 'idp', JWT_AUDIENCE: 'gw' });
    expect(c.auth.secret).toBeUndefined();
    expect(c.auth.algorithms).toContain('RS256');
    expect(c.auth.algorithms).not.toContain('HS256');
  });
});
