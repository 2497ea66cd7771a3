/**
 * The Broker contract (./broker-suite.ts) on every implementation: the in-memory twin, a real
 * redis-server (classic pub/sub) and a real three-primary Redis Cluster (sharded pub/sub, the
 * clients built as stores.ts builds them); then what only Redis shows: the wire format, and
 * on the cluster where the topics live.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus, MemoryBroker } from '../../src/broker/memory.js';
import { RedisBroker } from '../../src/broker/redis.js';
import type { Delivery } from '../../src/broker/types.js';
import type { Logger } from '../../src/log.js';
import { connect, open, redisOptions } from '../../src/stores.js';
import { startRedisCluster, type RedisCluster } from '../harness/redis-cluster.js';
import { startRedis, type RedisServer } from '../harness/redis.js';
import { uniquePrefix, waitFor } from '../harness/wait.js';
import { brokerContract, NODE_IDS, recordingLogger } from './broker-suite.js';

brokerContract('memory', async (logger) => {
  const bus = createMemoryBus();
  const nodes = NODE_IDS.map((id) => new MemoryBroker(bus, id, logger));
  return {
    nodes,
    outage: { stop: async () => bus.setReachable(false), start: async () => bus.setReachable(true) },
    wipe: async () => bus.flush(),
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => redis?.stop());

brokerContract('redis', async (logger) => {
  const prefix = uniquePrefix('broker');
  const clients: Redis[] = [];
  const client = (options: RedisOptions) => {
    const c = new Redis({ host: '127.0.0.1', port: redis.port, ...options });
    c.on('error', () => {}); // connection errors surface through status and rejected commands
    clients.push(c);
    return c;
  };
  const nodes = NODE_IDS.map((nodeId) => new RedisBroker({
    publisher: client({ enableOfflineQueue: false, autoResendUnfulfilledCommands: false }),
    subscriber: client({}),
    prefix,
    nodeId,
    logger,
    publishTimeoutMs: 1000,
  }));
  return {
    nodes,
    outage: { stop: () => redis.stop(), start: () => redis.start() },
    wipe: async () => {
      await client({}).flushall();
    },
    close: async () => {
      await Promise.all(nodes.map((n) => n.close()));
      for (const c of clients) c.disconnect();
    },
  };
});

describe('RedisBroker wire format', () => {
  it('sends `${nodeId}\\n${payload}` on `${prefix}action:${topic}` (history: `*<offset> <prev> <epoch>`) and drops messages without an origin', async () => {
    const prefix = uniquePrefix('wire');
    const raw = redis.client();
    const [publisher, subscriber] = [redis.client(), redis.client()];
    const { log, logger } = recordingLogger();
    const broker = new RedisBroker({ publisher, subscriber, prefix, nodeId: 'n1', logger });
    const got: Delivery[] = [];
    broker.onMessage((d) => got.push(d));
    await waitFor('broker ready', () => broker.isReady());
    await broker.subscribe('room');
    const seen: string[] = [];
    await raw.subscribe(`${prefix}action:room`);
    raw.on('message', (_channel, message: string) => seen.push(message));
    await broker.publish('room', 'hello');
    await waitFor('raw copy', () => seen.length === 1);
    expect(seen).toEqual(['n1\nhello']);
    const sender = redis.client();
    await sender.publish(`${prefix}action:room`, 'no-origin');
    await sender.publish(`${prefix}action:room`, 'n12\nfrom n12');
    await waitFor('n12 message', () => got.length === 1);
    expect(got).toEqual([{ topic: 'room', payload: 'from n12' }]);
    expect(log.warn).toHaveBeenCalledTimes(1);
    const { offset, epoch } = await broker.publish('room', 'kept', { history: { count: 10, ageMs: 60_000 } });
    await waitFor('history copy', () => seen.length === 4 && got.length === 2);
    expect(seen[3]).toBe(`*${offset} 0-0 ${epoch}\nkept`);
    expect(got[1]).toEqual({ topic: 'room', payload: 'kept', position: { offset, prev: '0-0', epoch } });
    await broker.close();
    for (const c of [raw, publisher, subscriber, sender]) c.disconnect();
  });
});

let rc: RedisCluster;
const clusterConfig = () => ({ clusterNodes: rc.ports.map((port) => ({ host: '127.0.0.1', port })), prefix: '' });

/** A publisher and a sharded subscriber, exactly as stores.ts makes them on a cluster. */
async function clusterClients(nodeId: string): Promise<{ publisher: Redis; subscriber: Redis }> {
  const publisher = connect(clusterConfig(), redisOptions(`${nodeId}:publisher`, true));
  const subscriber = connect(clusterConfig(), redisOptions(`${nodeId}:subscriber`, false), true);
  for (const c of [publisher, subscriber]) c.on('error', () => {}); // surfaced through status and rejected commands
  await Promise.all([open(publisher), open(subscriber)]);
  return { publisher, subscriber };
}

/** Brokers on the cluster with a brace-less prefix unique to the test. */
async function clusterBrokers(logger: Logger, ids = NODE_IDS) {
  const prefix = uniquePrefix('sbroker');
  const clients = await Promise.all(ids.map(clusterClients));
  const nodes = ids.map((nodeId, i) => new RedisBroker({ ...clients[i], prefix, sharded: true, nodeId, logger, publishTimeoutMs: 1000 }));
  const close = async () => {
    await Promise.all(nodes.map((n) => n.close()));
    for (const c of clients) for (const r of [c.publisher, c.subscriber]) r.disconnect();
  };
  return { prefix, nodes, close };
}

describe('on a three-primary Redis Cluster', () => {
  beforeAll(async () => {
    rc = await startRedisCluster();
  }, 40_000);
  afterAll(async () => rc?.stop());

  brokerContract('redis cluster (sharded pub/sub)', async (logger) => {
    const { nodes, close } = await clusterBrokers(logger);
    return {
      nodes,
      // Every primary down, then back empty with its slots: the cluster's "Redis restarted empty".
      outage: { stop: () => rc.stopNode(), start: () => rc.startNode() },
      wipe: async () => {
        for (const port of rc.ports) rc.cli(port, 'flushall');
      },
      close,
    };
  });

  it('spreads 30 topics over the primaries: each topic one sharded channel, on the primary owning its slot', async () => {
    const { prefix, nodes: [a, b], close } = await clusterBrokers(recordingLogger().logger, ['sa', 'sb']);
    const topics = Array.from({ length: 30 }, (_, i) => `room-${i}`);
    const got = new Set<string>();
    b.onMessage(({ topic, payload }) => got.add(`${topic}=${payload}`));
    await waitFor('brokers ready', () => a.isReady() && b.isReady());
    await Promise.all(topics.map((t) => b.subscribe(t)));
    await Promise.all(topics.map((t) => a.publish(t, `to ${t}`)));
    await waitFor('all 30 delivered', () => got.size === 30);
    const channels = topics.map((t) => `${prefix}action:{${t}}`);
    const perPrimary = rc.shardChannelsPerPrimary(channels, 1);
    console.log(`30 topics' sharded channels per primary: ${perPrimary.join(' / ')}`);
    expect(perPrimary.reduce((x, y) => x + y)).toBe(30);
    expect(perPrimary.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
    for (const ch of channels) expect(rc.shardChannelsPerPrimary([ch], 1)[rc.ports.indexOf(rc.ownerOf(ch))], ch).toBe(1);
    await close();
  });

  it('keeps a topic subscribed when the one primary holding its slot restarts, and says when delivery is back', async () => {
    const { prefix, nodes: [a, b], close } = await clusterBrokers(recordingLogger().logger, ['ra', 'rb']);
    await waitFor('brokers ready', () => a.isReady() && b.isReady());
    await Promise.all([b.subscribe('moving'), b.subscribe('elsewhere-0'), b.subscribe('elsewhere-1')]);
    const got: string[] = [];
    b.onMessage(({ topic, payload }) => got.push(`${topic}=${payload}`));
    let resumed = 0;
    b.onResumed(() => (resumed += 1));
    const channel = `${prefix}action:{moving}`;
    const owner = rc.ownerOf(channel);
    await rc.stopNode(owner);
    await rc.startNode(owner);
    await waitFor('resumed', () => resumed > 0, 20_000);
    let n = 0;
    await waitFor('delivery on the restarted primary', async () => {
      await a.publish('moving', `m${(n += 1)}`).catch(() => undefined);
      return got.some((g) => g.startsWith('moving='));
    }, 10_000, 100);
    expect(rc.shardChannelsPerPrimary([channel], 1)[rc.ports.indexOf(owner)]).toBe(1);
    expect(resumed).toBe(1);
    await close();
  }, 40_000);
});
