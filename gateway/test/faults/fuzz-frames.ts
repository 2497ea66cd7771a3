/**
 * Seeded generators of hostile client frames for the fuzz test. Everything derives from one
 * 32-bit seed (mulberry32), so a failing run is replayed with FUZZ_SEED=<seed>.
 * A frame is either processed by the gateway (and answered when it carries `id`) or `fatal`:
 * invalid UTF-8, oversize and protocol violations end the connection by design.
 */
import { Op } from './raw-ws.js';

export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzFrame {
  kind: string;
  opcode: number;
  payload: Buffer;
  rsv?: number;
  /** Set when the gateway must answer with exactly one frame carrying this id. */
  id?: string;
  /** The connection is expected to end. */
  fatal?: boolean;
}

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];
const ACTIONS = ['fz-a', 'fz-b', 'fz-c', 'room/1', 'x@y:z.w-1'];
const TYPES = ['join', 'leave', 'publish', 'ping', 'search', 'watch', 'online', 'refresh'];

function randomString(r: Rng, max: number): string {
  const n = int(r, max);
  let s = '';
  for (let i = 0; i < n; i += 1) {
    const roll = r();
    s += roll < 0.6 ? String.fromCharCode(32 + int(r, 95)) : roll < 0.85 ? String.fromCodePoint(0xa0 + int(r, 0xd7ff - 0xa0)) : String.fromCodePoint(0x10000 + int(r, 0xfffff));
  }
  return s;
}

/** A random JSON value of bounded size, sometimes with awkward numbers and keys. */
function randomValue(r: Rng, depth = 0): unknown {
  const roll = r();
  if (depth > 3 || roll < 0.3) return pick(r, [0, -0, 1e308, -1e-308, 2 ** 53 + 1, 'text', '', true, false, null, randomString(r, 20)]);
  if (roll < 0.6) return Array.from({ length: int(r, 5) }, () => randomValue(r, depth + 1));
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < int(r, 5); i += 1) obj[pick(r, ['a', 'from', 'sender', 'type', 'constructor', 'prototype', randomString(r, 8)])] = randomValue(r, depth + 1);
  return obj;
}

function validCommand(r: Rng, id: string): Record<string, unknown> {
  switch (pick(r, TYPES)) {
    case 'join': return { type: 'join', action: pick(r, ACTIONS), id };
    case 'leave': return { type: 'leave', action: pick(r, ACTIONS), id };
    case 'publish': return { type: 'publish', action: pick(r, ACTIONS), data: randomValue(r), echo: r() < 0.3, id };
    case 'ping': return { type: 'ping', id };
    case 'search': return { type: 'search', q: randomString(r, 12), limit: 1 + int(r, 100), id };
    case 'watch': return { type: 'watch', users: r() < 0.3 ? '*' : Array.from({ length: int(r, 50) }, (_, i) => `fuzz-${i}`), id };
    case 'online': return { type: 'online', ...(r() < 0.5 ? { cursor: String(int(r, 10 ** (1 + int(r, 9)))) } : {}), id };
    default: return { type: 'refresh', token: randomString(r, 200) || 'x', id };
  }
}

/** Replace one field of a command with a value of the wrong type (the id is kept). */
function wrongTypes(r: Rng, id: string): Record<string, unknown> {
  const cmd = validCommand(r, id);
  const keys = Object.keys(cmd).filter((k) => k !== 'id');
  cmd[pick(r, keys)] = pick(r, [42, -1, 1e999, null, true, [], {}, ['a'], { $gt: '' }, 'x'.repeat(300), '']);
  return cmd;
}

function deep(depth: number, open: string, close: string, leaf = '1'): string {
  return open.repeat(depth) + leaf + close.repeat(depth);
}

const text = (kind: string, s: string | Buffer, id?: string, fatal = false): FuzzFrame =>
  ({ kind, opcode: Op.text, payload: Buffer.isBuffer(s) ? s : Buffer.from(s), id, fatal });

/** One frame; `n` makes ids unique per connection; `maxPayload` is the gateway's MAX_PAYLOAD_BYTES. */
export function fuzzFrame(r: Rng, n: number, maxPayload: number): FuzzFrame {
  const id = `f${n}`;
  const roll = r();
  if (roll < 0.01) return text('invalid-utf8', Buffer.concat([Buffer.from('{"type":"ping","x":"'), Buffer.from([pick(r, [0x80, 0xc0, 0xed, 0xf8, 0xff])]), Buffer.from('"}')]), undefined, true);
  if (roll < 0.02) return text('oversize', `{"type":"publish","action":"fz-a","data":"${'y'.repeat(maxPayload)}"}`, undefined, true);
  if (roll < 0.025) return { kind: 'reserved-opcode', opcode: pick(r, [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), payload: Buffer.from('{}'), fatal: true };
  if (roll < 0.03) return { kind: 'rsv-bit', opcode: Op.text, rsv: pick(r, [1, 2, 4]), payload: Buffer.from('{"type":"ping"}'), fatal: true };
  if (roll < 0.08) return { kind: 'binary', opcode: Op.binary, payload: Buffer.from(Array.from({ length: int(r, 64) }, () => int(r, 256))) };
  if (roll < 0.2) return text('random-text', randomString(r, 120));
  if (roll < 0.28) {
    const depth = 33 + int(r, 2400); // deep-object stays under 16 KB (6 bytes a level)
    return pick(r, [
      text('deep-array', deep(depth, '[', ']')),
      text('deep-object', deep(depth, '{"a":', '}')),
      text('deep-data', `{"type":"publish","action":"fz-a","id":"${id}","data":${deep(depth, '[', ']')}}`, id),
    ]);
  }
  if (roll < 0.36) {
    return pick(r, [
      text('huge-number', `{"type":"search","q":"a","limit":1e999,"id":"${id}"}`, id),
      text('huge-number', `{"type":"ping","id":123456789012345678901234567890}`),
      text('huge-number', `{"type":"online","cursor":"${'9'.repeat(1 + int(r, 20))}","id":"${id}"}`, id),
      text('huge-number', `{"type":"publish","action":"fz-b","data":-1e400,"id":"${id}"}`, id),
    ]);
  }
  if (roll < 0.44) {
    return pick(r, [
      text('proto', `{"__proto__":{"type":"ping","admin":true},"id":"${id}"}`, id),
      text('proto', `{"type":"__proto__","id":"${id}"}`, id),
      text('proto', `{"type":"constructor","id":"${id}"}`, id),
      text('proto', `{"type":"hasOwnProperty","id":"${id}"}`, id),
      text('proto', `{"type":"join","action":"fz-c","__proto__":{"isAdmin":true},"constructor":{"prototype":{"polluted":1}},"id":"${id}"}`, id),
      text('proto', `{"type":"watch","users":["__proto__","constructor","prototype"],"id":"${id}"}`, id),
    ]);
  }
  if (roll < 0.52) return text('unknown-type', JSON.stringify({ type: randomString(r, 40), id }), id);
  if (roll < 0.64) return text('wrong-types', JSON.stringify(wrongTypes(r, id)), id);
  if (roll < 0.7) return text('not-an-object', pick(r, ['null', '[]', '"ping"', '42', 'true', '{}', '{"type":null}', '{"type":["ping"]}']));
  if (roll < 0.74) return text('truncated', JSON.stringify(validCommand(r, id)).slice(0, 1 + int(r, 20)));
  return text('valid', JSON.stringify(validCommand(r, id)), id);
}
