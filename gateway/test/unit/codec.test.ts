/** Unit: decoding of client frames never throws and copies only known fields. */
import { describe, expect, it } from 'vitest';
import { decodeClientMessage, jsonDepthExceeds, MAX_DATA_DEPTH } from '../../../shared/codec.js';

describe('decodeClientMessage', () => {
  it('decodes every command type', () => {
    const frames = [
      { type: 'join', action: 'chat', id: '1' },
      { type: 'leave', action: 'chat' },
      { type: 'publish', action: 'chat', data: { a: [1, 2] }, echo: true, id: 7 },
      { type: 'ping' },
      { type: 'search', q: 'ali', limit: 20 },
      { type: 'watch', users: ['u1', 'u2'] },
      { type: 'watch', users: '*' },
      { type: 'online', cursor: '12' },
    ];
    for (const f of frames) expect(decodeClientMessage(JSON.stringify(f))).toEqual({ ok: true, msg: f });
  });

  it('names the error and echoes the id when it can be read', () => {
    expect(decodeClientMessage('{oops')).toMatchObject({ ok: false, code: 'bad_json' });
    expect(decodeClientMessage('[1,2]')).toMatchObject({ ok: false, code: 'bad_request' });
    expect(decodeClientMessage('"join"')).toMatchObject({ ok: false, code: 'bad_request' });
    expect(decodeClientMessage('{"type":"fly","id":"9"}')).toEqual({ ok: false, code: 'unknown_type', message: expect.any(String), id: '9' });
    expect(decodeClientMessage('{"type":"join","id":3}')).toMatchObject({ ok: false, code: 'bad_request', id: 3 });
    expect(decodeClientMessage('{"type":"join","action":5}')).toMatchObject({ code: 'bad_request' });
    expect(decodeClientMessage('{"type":"publish","action":"a"}')).toMatchObject({ code: 'bad_request' });
    expect(decodeClientMessage('{"type":"search","q":"x","limit":1e9}')).toMatchObject({ code: 'bad_request' });
    expect(decodeClientMessage('{"type":"join","action":"a b"}')).toMatchObject({ code: 'bad_request' });
    const badId = decodeClientMessage('{"type":"join","action":"ok","id":{"x":1}}');
    expect(badId).toMatchObject({ ok: false, code: 'bad_request' });
    expect((badId as { id?: unknown }).id).toBeUndefined();
  });

  it('never lets __proto__, constructor or a forged sender through as fields', () => {
    const d = decodeClientMessage('{"type":"publish","action":"a","data":1,"__proto__":{"polluted":true},"from":"mallory","constructor":{"x":1}}');
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(Object.keys(d.msg).sort()).toEqual(['action', 'data', 'type']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Inside data the key stays data (it is re-serialized, never merged).
    const inner = decodeClientMessage('{"type":"publish","action":"a","data":{"__proto__":{"p":1}}}');
    expect(inner.ok && JSON.stringify(inner.msg)).toContain('__proto__');
  });

  it('refuses data nested deeper than the limit, without recursion', () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(decodeClientMessage(`{"type":"publish","action":"a","data":${deep(MAX_DATA_DEPTH)}}`).ok).toBe(true);
    expect(decodeClientMessage(`{"type":"publish","action":"a","data":${deep(MAX_DATA_DEPTH + 1)}}`)).toMatchObject({ code: 'bad_request' });
    expect(jsonDepthExceeds(JSON.parse(deep(20_000)), 32)).toBe(true);
  });

  it('survives random garbage', () => {
    for (let i = 0; i < 2000; i += 1) {
      const bytes = Array.from({ length: 1 + (i % 50) }, () => String.fromCharCode(Math.floor(Math.random() * 256))).join('');
      expect(() => decodeClientMessage(bytes)).not.toThrow();
      expect(() => decodeClientMessage(`{"type":"publish","action":"a","data":${bytes}}`)).not.toThrow();
    }
  });
});
