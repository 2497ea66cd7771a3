/**
 * What the HTTP fallback's routes give a hostile client, on two real gateways and Redis:
 * - `GET /http/stream` is admitted as an upgrade is: no token from a URL, a bad token refused,
 *   the per-user connection cap holds, and a refusal puts nobody online;
 * - `POST /http/send` with another session's id and a wrong key is 403 on either node, and
 *   nothing of it is done;
 * - a POST of more frames or bytes than allowed is 413, and none of its frames is taken;
 * - POSTs naming sessions of a node that does not answer wait for it at most FORWARDS_PER_ADDRESS
 *   at a time per address (429 past that), and a malformed id is 404 at once;
 * - a stream whose reader stalls is ended as a slow consumer, and its user goes offline.
 */
import { request, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_SEND_MAX_FRAMES } from '../../../shared/protocol.js';
import { FORWARDS_PER_ADDRESS } from '../../src/transport/stream-routes.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { waitFor } from '../harness/wait.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const MAX_PAYLOAD = 4096;
const CAP = 3;
let cluster: Cluster;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  cluster = await startCluster(fx, 'hstream', {
    nodes: 2,
    env: {
      MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), MAX_CONNECTIONS_PER_USER: String(CAP), MAX_BACKPRESSURE_BYTES: String(64 * 1024),
      // Each test speaks from its own address (X-Forwarded-For), so per-address budgets do not mix.
      TRUSTED_PROXIES: '127.0.0.1', MSG_RATE_PER_S: '4000', MSG_BURST: '4000',
    },
  });
  [a, b] = cluster.nodes;
});

afterAll(() => cluster?.stop());

interface Stream {
  id: string;
  key: string;
  res: IncomingMessage;
  frames: Array<Record<string, any>>;
  /** Message frames seen (counted, not parsed). */
  messages: number;
  close?: { code: number; reason: string };
  ended: boolean;
}

/** `GET /http/stream`: the status when refused, else the stream once its session event came. */
function openStream(gw: GatewayProcess, headers: Record<string, string>, path = '/http/stream'): Promise<number | Stream> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.http}${path}`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return resolve(res.statusCode ?? 0);
      }
      const s: Stream = { id: '', key: '', res, frames: [], messages: 0, ended: false };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = /^data: (.*)$/m.exec(event)?.[1];
          if (data === undefined) continue;
          if (event.startsWith('event: session')) {
            Object.assign(s, JSON.parse(data));
            resolve(s);
          } else if (event.startsWith('event: close')) s.close = JSON.parse(data);
          else if (data.startsWith('{"type":"message"')) s.messages += 1;
          else s.frames.push(JSON.parse(data));
        }
      });
      res.on('end', () => (s.ended = true));
      res.on('error', () => (s.ended = true));
    });
    req.on('error', reject);
    req.end();
  });
}

async function stream(gw: GatewayProcess, userId: string, ip: string): Promise<Stream> {
  const s = await openStream(gw, { authorization: `Bearer ${await fx.mint(userId)}`, 'x-forwarded-for': ip });
  if (typeof s === 'number') throw new Error(`stream of ${userId} refused: ${s}`);
  await waitFor(`welcome of ${userId}`, () => s.frames.some((f) => f.type === 'welcome'));
  return s;
}

const post = (gw: GatewayProcess, id: string, key: string, body: string, ip: string, path = '/http/send') =>
  fetch(`${gw.http}${path}`, { method: 'POST', headers: { 'x-stream-id': id, 'x-stream-key': key, 'x-forwarded-for': ip }, body }).then((r) => r.status);

/** A ping through the session's own POST, and its pong: every frame POSTed before it was processed. */
async function fence(s: Stream, gw: GatewayProcess, ip: string, id: string) {
  expect([202, 204]).toContain(await post(gw, s.id, s.key, JSON.stringify({ type: 'ping', id }), ip));
  await waitFor(`pong ${id}`, () => s.frames.some((f) => f.type === 'pong' && f.id === id));
}

const online = (userId: string) => cluster.redis.client().sismember(`${cluster.prefix}online_users`, userId);

describe('the HTTP fallback under a hostile client', () => {
  it('admits a stream only as it admits an upgrade, and a refusal puts nobody online', async () => {
    const ip = '203.0.113.1';
    const token = await fx.mint('hs-url');
    expect(await openStream(a, { 'x-forwarded-for': ip }, `/http/stream?token=${encodeURIComponent(token)}`)).toBe(401);
    expect(await openStream(a, { authorization: 'Bearer not-a-token', 'x-forwarded-for': ip })).toBe(401);
    expect(await online('hs-url')).toBe(0);

    const held = await Promise.all(Array.from({ length: CAP }, () => stream(a, 'hs-cap', ip)));
    expect(await openStream(b, { authorization: `Bearer ${await fx.mint('hs-cap')}`, 'x-forwarded-for': ip })).toBe(429);
    expect(await cluster.redis.client().hget(`${cluster.prefix}presence:counts`, 'hs-cap')).toBe(String(CAP));
    for (const s of held) s.res.destroy();
    await waitFor('hs-cap offline', async () => (await online('hs-cap')) === 0, 10_000);
  });

  it('does nothing with frames POSTed under another session\'s id with a wrong key, on its node or the other', async () => {
    const ip = '203.0.113.2';
    const victim = await stream(a, 'hs-victim', ip);
    const evil = `${JSON.stringify({ type: 'join', action: 'hs-evil', id: 'evil-join' })}\n${JSON.stringify({ type: 'ping', id: 'evil-ping' })}`;
    const wrong = 'A'.repeat(victim.key.length);
    expect(await post(a, victim.id, wrong, evil, '198.51.100.9')).toBe(403);
    expect(await post(b, victim.id, wrong, evil, '198.51.100.9')).toBe(403);
    expect(await post(b, victim.id, '', evil, '198.51.100.9', '/http/close')).toBe(403);
    await fence(victim, a, ip, 'victim-ping');
    expect(victim.frames.filter((f) => typeof f.id === 'string' && f.id.startsWith('evil'))).toEqual([]);
    expect(victim.ended).toBe(false);
    victim.res.destroy();
  });

  it(`refuses a POST of more than ${HTTP_SEND_MAX_FRAMES} frames or 4 x MAX_PAYLOAD_BYTES with 413, taking none of its frames`, async () => {
    const ip = '203.0.113.3';
    const s = await stream(a, 'hs-large', ip);
    const pings = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ type: 'ping', id: `${tag}${i}` })).join('\n');
    expect(await post(a, s.id, s.key, pings(HTTP_SEND_MAX_FRAMES + 1, 'many-'), ip)).toBe(413);
    const padded = `${JSON.stringify({ type: 'ping', id: 'big-0' })}\n${JSON.stringify({ type: 'ping', id: 'big-1', pad: 'x'.repeat(4 * MAX_PAYLOAD) })}`;
    expect(await post(a, s.id, s.key, padded, ip)).toBe(413);
    expect(await post(a, s.id, s.key, pings(HTTP_SEND_MAX_FRAMES, 'all-'), ip)).toBe(204);
    await fence(s, a, ip, 'after');
    expect(s.frames.filter((f) => typeof f.id === 'string' && /^(many|big)-/.test(f.id))).toEqual([]);
    expect(s.frames.filter((f) => f.type === 'pong' && f.id.startsWith('all-'))).toHaveLength(HTTP_SEND_MAX_FRAMES);
    s.res.destroy();
  });

  it(`keeps at most ${FORWARDS_PER_ADDRESS} POSTs of one address waiting for a node that does not answer, and serves others meanwhile`, async () => {
    const ip = '203.0.113.4';
    const started = Date.now();
    expect(await post(a, 'not-a-session-id', 'k', '{"type":"ping"}', ip)).toBe(404);
    expect(Date.now() - started, 'a malformed id is not forwarded (the relay waits 3 s)').toBeLessThan(2000);

    const bystander = await stream(a, 'hs-bystander', '203.0.113.5');
    const order: number[] = [];
    const flood = Array.from({ length: 64 }, (_, i) => post(a, `hs-gone-node:${String(i).padStart(16, 'A')}`, 'k', '{"type":"ping"}', ip)
      .then((status) => (order.push(status), status)));
    // While the flood waits for a node that does not exist, a POST from another address, through
    // the other node, reaches its session at once.
    await waitFor('the refused part of the flood answered', () => order.filter((s) => s === 429).length === 64 - FORWARDS_PER_ADDRESS, 2000);
    await fence(bystander, b, '203.0.113.5', 'meanwhile');
    const statuses = await Promise.all(flood);
    expect(statuses.filter((s) => s === 404)).toHaveLength(FORWARDS_PER_ADDRESS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(64 - FORWARDS_PER_ADDRESS);
    expect(order.indexOf(404), 'every 429 came before the first 404').toBe(64 - FORWARDS_PER_ADDRESS);
    bystander.res.destroy();
  });

  it('ends a stream whose reader stalls as a slow consumer, and its user goes offline', async () => {
    const ip = '203.0.113.6';
    const watcher = await fx.connect(a, 'hs-watcher');
    const stalled = await stream(a, 'hs-stalled', ip);
    expect(await post(a, stalled.id, stalled.key, JSON.stringify({ type: 'join', action: 'hs-flood', id: 'j' }), ip)).toBe(204);
    await waitFor('joined', () => stalled.frames.some((f) => f.type === 'ack' && f.id === 'j'));
    const publisher = await fx.connect(a, 'hs-publisher');
    expect(await publisher.request({ type: 'join', action: 'hs-flood' })).toMatchObject({ type: 'ack' });
    stalled.res.pause(); // stop reading: the kernel's buffers fill, then the gateway's
    const pad = 'x'.repeat(1000);
    const started = Date.now();
    let sent = 0;
    // Bounded: at most 40,000 messages of 1 KB and 15 s, until the user is announced offline.
    const offline = () => watcher.presence('hs-stalled').some((c) => c.status === 'offline');
    while (!offline() && sent < 40_000 && Date.now() - started < 15_000) {
      for (let i = 0; i < 200; i += 1, sent += 1) publisher.ws.send(`{"type":"publish","action":"hs-flood","data":{"n":${sent},"pad":"${pad}"}}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor('hs-stalled announced offline', offline, 10_000);
    expect(await online('hs-stalled')).toBe(0);
    stalled.res.resume();
    await waitFor('the stalled reader finds its stream ended', () => stalled.ended, 10_000);
    console.log(`stalled stream: ended after ${sent} messages of ~1 KB (it had read ${stalled.messages}), close event ${JSON.stringify(stalled.close)}`);
    expect(sent, 'ended while the flood went on, not by the loop\'s bounds').toBeLessThan(40_000);
    expect(await metric(a, 'gateway_slow_consumer_closes_total'), 'closed as a slow consumer (4008)').toBe(1);
    // The close event is written only when the reader is not too far behind to read it.
    if (stalled.close) expect(stalled.close.code).toBe(4008);
    expect(publisher.closed).toBeUndefined();
  }, 40_000);
});
