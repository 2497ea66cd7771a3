/**
 * RFC 6455 frame-level conformance, in the spirit of Autobahn, through a raw TCP socket:
 * each case opens a fresh authenticated connection, writes frames no library would, and
 * records how uWebSockets.js ends (or keeps) the connection. Assertions pin the observed
 * safe behaviour: a protocol violation closes that connection (close frame or dropped TCP),
 * valid traffic is processed, and the gateway stays up with its accounting intact.
 * The table printed at the end is the one in docs/RELIABILITY.md.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { alive, FAULTS_ENV, gatewayFixture, metric } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import type { RedisServer } from '../harness/redis.js';
import { waitFor } from '../harness/wait.js';
import { closePayload, encodeFrame, Op, RawSocket, type Ending, type FrameSpec } from './raw-ws.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const MAX_PAYLOAD = 4096;
let cluster: Cluster;
let redis: RedisServer;
let gw: GatewayProcess;
let prefix: string;
const table: Array<{ name: string; rfc: string; observed: string }> = [];

beforeAll(async () => {
  cluster = await startCluster(fx, 'frames', { nodes: 1, env: { MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), PRESENCE_GRACE_MS: '0' } });
  ({ redis, prefix, nodes: [gw] } = cluster);
});

afterAll(async () => {
  console.log(['| case | RFC 6455 expects | uWebSockets.js did |', '|---|---|---|', ...table.map((r) => `| ${r.name} | ${r.rfc} | ${r.observed} |`)].join('\n'));
  await cluster?.stop();
});

let users = 0;
/** Every raw connection a case opened; destroyed after each case, however it ended. */
const raws: RawSocket[] = [];
async function open(): Promise<RawSocket> {
  users += 1;
  const raw = await RawSocket.open(gw.port, `/ws?token=${await fx.mint(`frames-${users}`)}`);
  raws.push(raw);
  expect(await raw.nextJson((m) => m.type === 'welcome')).toBeDefined();
  return raw;
}

// Each case leaves nothing behind: every connection it opened is counted out of the
// gateway and out of presence before the next case starts.
afterEach(async () => {
  for (const raw of raws.splice(0)) raw.destroy();
  await waitFor('no connection left', async () => (await metric(gw, 'gateway_connections')) === 0, 5000, 20);
  const store = redis.client();
  await waitFor('nobody left online', async () => (await store.scard(`${prefix}online_users`)) === 0, 5000, 20);
  store.disconnect();
});

function describeEnding(e: Ending): string {
  if (e.kind === 'open') return 'kept open';
  if (e.kind === 'dropped') return 'TCP dropped, no close frame';
  return `close frame ${e.code ?? '(no code)'}${e.reason ? ` "${e.reason}"` : ''}`;
}

/** Send `frames` on a fresh connection; expect the connection to end; record how. */
async function violation(name: string, rfc: string, frames: Array<FrameSpec | Buffer>): Promise<Ending> {
  const raw = await open();
  for (const f of frames) raw.writeRaw(Buffer.isBuffer(f) ? f : encodeFrame(f));
  const ending = await raw.ending(3000);
  const tcpClosed = ending.kind === 'close-frame' ? await raw.waitEnded(3000) : true;
  table.push({ name, rfc, observed: `${describeEnding(ending)}${ending.kind === 'close-frame' ? (tcpClosed ? ', then TCP closed' : ', TCP left open') : ''}` });
  raw.destroy();
  expect(ending.kind, `${name}: the connection must not stay open`).not.toBe('open');
  expect(tcpClosed, `${name}: TCP must close after the close frame`).toBe(true);
  expect(await alive(gw)).toBe(true);
  return ending;
}

const text = (payload: Buffer | string, more: Partial<FrameSpec> = {}): FrameSpec => ({ opcode: Op.text, payload, ...more });
const PING = JSON.stringify({ type: 'ping', id: 'p' });

describe('valid traffic is processed', () => {
  it('reassembles a fragmented text message and answers a ping sent between its fragments', async () => {
    const raw = await open();
    const msg = JSON.stringify({ type: 'ping', id: 'frag' });
    raw.send(text(msg.slice(0, 10), { fin: false }));
    raw.send({ opcode: Op.ping, payload: 'mid' });
    raw.send({ opcode: Op.continuation, payload: msg.slice(10, 20), fin: false });
    raw.send({ opcode: Op.continuation, payload: msg.slice(20) });
    const pong = await raw.next((f) => f.opcode === Op.pong);
    expect(pong?.payload.toString()).toBe('mid');
    expect(await raw.nextJson((m) => m.type === 'pong' && m.id === 'frag')).toBeDefined();
    table.push({ name: 'fragmented text + ping between fragments', rfc: 'pong, then the message', observed: 'pong, then the message' });
    raw.destroy();
  });

  it('accepts a UTF-8 character split across two fragments, and a frame written one byte at a time', async () => {
    const raw = await open();
    const bytes = Buffer.from(JSON.stringify({ type: 'ping', id: 'é' }));
    const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of "é"
    raw.send(text(bytes.subarray(0, cut), { fin: false }));
    raw.send({ opcode: Op.continuation, payload: bytes.subarray(cut) });
    expect(await raw.nextJson((m) => m.type === 'pong' && m.id === 'é')).toBeDefined();
    const frame = encodeFrame(text(JSON.stringify({ type: 'ping', id: 'slow' })));
    for (const byte of frame) {
      raw.writeRaw(Buffer.from([byte]));
      await new Promise((r) => setImmediate(r));
    }
    expect(await raw.nextJson((m) => m.type === 'pong' && m.id === 'slow')).toBeDefined();
    table.push({ name: 'code point split across fragments; frame in 1-byte writes', rfc: 'processed', observed: 'processed' });
    raw.destroy();
  });

  it('answers a binary frame and an empty text frame with protocol errors, ignores an unsolicited pong, and stays open', async () => {
    const raw = await open();
    raw.send({ opcode: Op.binary, payload: Buffer.from([0, 1, 2]) });
    raw.send(text(''));
    raw.send({ opcode: Op.pong, payload: 'unsolicited' });
    raw.send(text(PING));
    expect(await raw.nextJson((m) => m.type === 'error' && m.code === 'bad_request')).toBeDefined();
    expect(await raw.nextJson((m) => m.type === 'error' && m.code === 'bad_json')).toBeDefined();
    expect(await raw.nextJson((m) => m.type === 'pong' && m.id === 'p')).toBeDefined();
    expect((await raw.ending(300)).kind).toBe('open');
    table.push({ name: 'binary frame, empty text frame, unsolicited pong', rfc: 'allowed', observed: 'error `bad_request` / `bad_json`; pong ignored; open' });
    raw.destroy();
  });
});

describe('protocol violations close the connection', () => {
  it.each([[4, 'RSV1'], [2, 'RSV2'], [1, 'RSV3']])('reserved bit %s (%s) without an extension', async (rsv, bit) => {
    await violation(`${bit} set (no extension negotiated)`, 'fail: 1002', [text(PING, { rsv })]);
  });

  it.each([0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf])('reserved opcode 0x%s', async (opcode) => {
    await violation(`opcode 0x${opcode.toString(16).toUpperCase()}`, 'fail: 1002', [{ opcode, payload: 'x' }]);
  });

  it.each([
    ['lone continuation byte', [0x80]],
    ['overlong encoding', [0xc0, 0xaf]],
    ['UTF-16 surrogate', [0xed, 0xa0, 0x80]],
    ['byte 0xFF', [0xff]],
    ['truncated sequence at the end', [0xe2, 0x82]],
  ])('invalid UTF-8 in a text frame: %s', async (label, bad) => {
    const payload = Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from(bad as number[]), Buffer.from('"}')]);
    await violation(`invalid UTF-8 in text: ${label}`, 'fail: 1007', [text(payload)]);
  });

  it('invalid UTF-8 in a close frame reason', async () => {
    await violation('invalid UTF-8 in close reason', 'fail: 1007', [{ opcode: Op.close, payload: closePayload(1000, Buffer.from([0xff, 0xfe])) }]);
  });

  it('control frames over 125 bytes, and fragmented control frames', async () => {
    await violation('ping with 126-byte payload', 'fail: 1002', [{ opcode: Op.ping, payload: Buffer.alloc(126, 0x61) }]);
    await violation('close with 126-byte payload', 'fail: 1002', [{ opcode: Op.close, payload: closePayload(1000, 'r'.repeat(124)) }]);
    await violation('ping with FIN=0 (fragmented control)', 'fail: 1002', [{ opcode: Op.ping, payload: 'x', fin: false }, { opcode: Op.continuation, payload: 'y' }]);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])('close frame with invalid code %s', async (code) => {
    await violation(`close code ${code}`, 'fail: 1002', [{ opcode: Op.close, payload: closePayload(code) }]);
  });

  it('close frame with a 1-byte payload, and valid close codes', async () => {
    await violation('close frame with 1-byte payload', 'fail: 1002', [{ opcode: Op.close, payload: Buffer.from([0x03]) }]);
    for (const code of [1000, 1001, 3000, 4999]) {
      await violation(`close code ${code} (valid)`, `echo ${code}, close TCP`, [{ opcode: Op.close, payload: closePayload(code, 'bye') }]);
    }
  });

  it('fragmentation errors', async () => {
    await violation('continuation with nothing to continue', 'fail: 1002', [{ opcode: Op.continuation, payload: PING }]);
    await violation('new text frame inside a fragmented message', 'fail: 1002', [text('{"type":', { fin: false }), text(PING)]);
  });

  it('messages over MAX_PAYLOAD_BYTES, whole or in fragments, and absurd lengths', async () => {
    await violation(`text frame of ${MAX_PAYLOAD + 1} bytes`, 'close 1009 (policy)', [text('x'.repeat(MAX_PAYLOAD + 1))]);
    const part = 'x'.repeat(1500);
    await violation(`4 fragments of 1,500 bytes (limit ${MAX_PAYLOAD})`, 'close 1009 (policy)', [
      text(part, { fin: false }), { opcode: Op.continuation, payload: part, fin: false },
      { opcode: Op.continuation, payload: part, fin: false }, { opcode: Op.continuation, payload: part },
    ]);
    // A header announcing 2^63 bytes (most significant bit set, which RFC 6455 forbids); no body follows.
    const huge = Buffer.from([0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    await violation('64-bit length with the top bit set', 'fail', [huge]);
  });
});

describe('a deviation: the MASK bit is not checked', () => {
  it('reads an unmasked frame as if masked: never processed, and the connection drops on the bytes that follow', async () => {
    const raw = await open();
    raw.send(text(PING, { mask: false }));
    // uWebSockets.js takes the first 4 payload bytes for a masking key and waits for 4 more bytes.
    expect((await raw.ending(500)).kind).toBe('open');
    raw.send(text(JSON.stringify({ type: 'ping', id: 'q' })));
    const ending = await raw.ending(3000);
    table.push({ name: 'unmasked client frame', rfc: 'fail: 1002', observed: `not processed (read as masked); ${describeEnding(ending)} once the next frame arrives` });
    expect(raw.texts().some((m) => m.type === 'pong')).toBe(false);
    expect(ending.kind).not.toBe('open');
    raw.destroy();
    expect(await alive(gw)).toBe(true);
  });
});

describe('after every case', () => {
  it('the gateway is up, serves a normal client, and counts no leftover connection', async () => {
    const c = await fx.connect(gw, 'frames-observer');
    c.send({ type: 'ping', id: 'last' });
    await c.next((f) => f.type === 'pong' && f.id === 'last');
    await waitFor('only the observer left', async () => (await metric(gw, 'gateway_connections')) === 1, 5000, 100);
    // Every dropped connection was counted out of presence too.
    await waitFor('only the observer online', async () => (await redis.client().smembers(`${prefix}online_users`)).join() === 'frames-observer');
    c.close();
  });
});
