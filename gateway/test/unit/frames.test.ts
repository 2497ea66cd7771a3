/**
 * The server → client codec (shared/frames.ts): every frame type encodes to what protocol.ts
 * declares and decodes back; text that is not a frame of this protocol decodes to nothing; the
 * fixed-layout message frame keeps its fast readers exact; offsets compare exactly. The
 * `@ts-expect-error` lines are checked by `npm test`'s type-check: a frame that does not match
 * protocol.ts does not compile.
 */
import { describe, expect, it } from 'vitest';
import {
  ackFrame, decodeFrame, errorFrame, leftFrame, messageFrame, pongFrame, presenceCountFrame, presenceFrame, presenceResetFrame,
  profileFrame, roomFrame, roomResetFrame, stampedTs, tokenExpiringFrame, welcomeFrame, withOffset,
} from '../../../shared/frames.js';
import { compareOffsets, ORIGIN } from '../../../shared/offsets.js';

const user = { id: 'u1', username: 'alice', displayName: 'Alice' };

describe('server frames', () => {
  it('encode every frame type so that the decoder gives back the same message', () => {
    const frames = [
      welcomeFrame({
        connectionId: 'n:1', node: 'n', user, online: ['u1'], onlineCount: 1, onlineListed: true, heartbeatMs: 30_000,
        limits: { maxPayloadBytes: 65536, welcomeOnline: 100 },
      }),
      presenceFrame([{ userId: 'u1', username: 'alice', status: 'online', ts: 1 }]),
      presenceResetFrame({ users: ['u1'], cursor: '5' }, 'outage'),
      presenceCountFrame(1200, false),
      messageFrame({ action: 'chat', from: { userId: 'u1', username: 'alice' }, data: { text: 'hi' }, ts: 1700000000000 }),
      ackFrame<'publish'>(7, { ts: 1 }),
      ackFrame('x'),
      errorFrame('not_member', 'join first', 'r1'),
      pongFrame(undefined, 5),
      tokenExpiringFrame(123),
      profileFrame(user),
      roomFrame('lounge', 3, [{ userId: 'u1', username: 'alice', status: 'joined', ts: 2 }]),
      roomResetFrame('lounge'),
      leftFrame('lounge', 'unsubscribed'),
    ];
    for (const text of frames) expect(decodeFrame(text)).toEqual(JSON.parse(text));
    expect(new Set(frames.map((t) => JSON.parse(t).type)).size).toBe(13);
  });

  it('leave out optional fields that are absent instead of sending them as null', () => {
    expect(JSON.parse(errorFrame('bad_json', 'x'))).toEqual({ type: 'error', code: 'bad_json', message: 'x' });
    expect(JSON.parse(presenceResetFrame({ users: [] }, 'churn'))).toEqual({ type: 'presence_reset', online: [], reason: 'churn' });
    expect(JSON.parse(pongFrame('p', 9))).toEqual({ type: 'pong', id: 'p', ts: 9 });
  });

  it('decode to nothing what is not a frame of this protocol', () => {
    for (const text of ['', 'nope', '[]', '42', '{"type":1}', '{"type":"teleport"}', '{"type":"message","action":7}', '{"type":"ack"}',
      '{"type":"presence"}', '{"type":"__proto__"}', '{"type":"error","code":"x"}']) {
      expect(decodeFrame(text), text).toBeUndefined();
    }
  });

  it('append an offset to a message frame and read its stamp back without parsing the data', () => {
    const frame = messageFrame({ action: 'a', from: { system: true }, data: '"ts":1', ts: 1700000000123 });
    const withPos = withOffset(frame, '1700000000123-4');
    expect(JSON.parse(withPos).offset).toBe('1700000000123-4');
    expect(stampedTs(frame)).toBe(1700000000123);
    expect(stampedTs(withPos)).toBe(1700000000123);
  });

  it('is checked by the compiler against protocol.ts', () => {
    // @ts-expect-error: not an ErrorCode
    errorFrame('teapot', 'no such code');
    // @ts-expect-error: a join's result has no `users`
    ackFrame<'join'>(1, { users: [] });
    // @ts-expect-error: the reason of a presence_reset is one of three
    presenceResetFrame({ users: [] }, 'whatever');
    // @ts-expect-error: a welcome needs its limits
    welcomeFrame({ connectionId: 'c', node: 'n', user, online: [], onlineCount: 0, onlineListed: true, heartbeatMs: 1 });
    expect(true).toBe(true);
  });
});

describe('stream offsets', () => {
  it('compare exactly, past the precision of a double', () => {
    expect(compareOffsets('9-0', '10-0')).toBeLessThan(0);
    expect(compareOffsets('5-10', '5-9')).toBeGreaterThan(0);
    expect(compareOffsets('1700000000000-3', '1700000000000-3')).toBe(0);
    expect(compareOffsets('1-9007199254740993', '1-9007199254740992')).toBeGreaterThan(0);
    expect(compareOffsets(ORIGIN, '0-1')).toBeLessThan(0);
  });
});
