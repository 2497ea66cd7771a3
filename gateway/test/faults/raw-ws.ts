/**
 * A WebSocket client on a bare TCP socket: the upgrade is written by hand and every frame is
 * built here (masking included), so a test can send what no well-behaved library would:
 * reserved bits, bad opcodes, invalid UTF-8, oversized or fragmented control frames,
 * unmasked frames. Frames from the server are parsed and recorded, as is the TCP end.
 */
import { randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';

export const Op = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface ServerFrame { fin: boolean; rsv: number; opcode: number; payload: Buffer }

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** Reserved bits as a 3-bit number (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  rsv?: number;
  /** False sends the frame unmasked (clients must mask). */
  mask?: boolean;
}

/** Encode one client frame. */
export function encodeFrame(f: FrameSpec): Buffer {
  const payload = typeof f.payload === 'string' ? Buffer.from(f.payload) : (f.payload ?? Buffer.alloc(0));
  const masked = f.mask !== false;
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = ((f.fin === false ? 0 : 1) << 7) | ((f.rsv ?? 0) << 4) | (f.opcode & 0x0f);
  head[1] = (masked ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!masked) return Buffer.concat([head, payload]);
  const key = randomBytes(4);
  key.copy(head, 2 + ext);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i += 1) body[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, body]);
}

/** A close frame payload: 2-byte code and a reason (raw bytes allowed). */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

export type Ending =
  | { kind: 'open' }
  | { kind: 'close-frame'; code: number | undefined; reason: string }
  | { kind: 'dropped' };

export class RawSocket {
  readonly frames: ServerFrame[] = [];
  /** The TCP connection ended (FIN or reset). */
  ended = false;
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.parse();
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on('close', end);
    socket.on('end', end);
    socket.on('error', end);
  }

  /**
   * Upgrade `path` (e.g. `/ws?token=...`) on 127.0.0.1:`port`. Resolves with the socket after a
   * 101, or rejects with `status` set to the HTTP status of a refusal.
   */
  static open(port: number, path: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const socket = tcpConnect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error('upgrade timed out'));
      }, timeoutMs);
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        clearTimeout(timer);
        socket.off('data', onData);
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        if (status !== 101) {
          socket.destroy();
          return reject(Object.assign(new Error(`HTTP ${status}`), { status }));
        }
        const raw = new RawSocket(socket);
        const rest = head.subarray(end + 4);
        if (rest.length > 0) socket.emit('data', rest);
        resolve(raw);
      };
      socket.on('data', onData);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      const lines = [
        `GET ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  private parse(): void {
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      let len = b[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      const maskLen = b[1] & 0x80 ? 4 : 0;
      if (b.length < off + maskLen + len) return;
      let payload = Buffer.from(b.subarray(off + maskLen, off + maskLen + len));
      if (maskLen) {
        const key = b.subarray(off, off + 4);
        payload = Buffer.from(payload.map((x, i) => x ^ key[i & 3]));
      }
      this.frames.push({ fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, payload });
      this.buf = b.subarray(off + maskLen + len);
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private async until<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(f: FrameSpec): void {
    this.writeRaw(encodeFrame(f));
  }

  writeRaw(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /** JSON of every text frame received so far, from frame index `from` (frames that are not JSON are skipped). */
  texts(from = 0): Array<Record<string, any>> {
    const out: Array<Record<string, any>> = [];
    for (const f of this.frames.slice(from)) {
      if (f.opcode !== Op.text) continue;
      try {
        out.push(JSON.parse(f.payload.toString('utf8')));
      } catch {
        // not JSON: a conformance test looks at the raw frame instead
      }
    }
    return out;
  }

  /** First server frame matching `match` within `timeoutMs`, or undefined. */
  next(match: (f: ServerFrame) => boolean, timeoutMs = 3000): Promise<ServerFrame | undefined> {
    return this.until(() => this.frames.find(match), timeoutMs);
  }

  /** First JSON text frame matching `match` within `timeoutMs`, or undefined. */
  nextJson(match: (m: Record<string, any>) => boolean, timeoutMs = 3000): Promise<Record<string, any> | undefined> {
    return this.until(() => this.texts().find(match), timeoutMs);
  }

  /** How the server ended the connection within `timeoutMs`: close frame, dropped TCP, or still open. */
  async ending(timeoutMs = 3000): Promise<Ending> {
    const found = await this.until(() => {
      const close = this.frames.find((f) => f.opcode === Op.close);
      if (close) return close;
      return this.ended ? null : undefined;
    }, timeoutMs);
    if (found === undefined) return { kind: 'open' };
    if (found === null) return { kind: 'dropped' };
    return {
      kind: 'close-frame',
      code: found.payload.length >= 2 ? found.payload.readUInt16BE(0) : undefined,
      reason: found.payload.subarray(2).toString('utf8'),
    };
  }

  /** True once the TCP connection ended, within `timeoutMs`. */
  async waitEnded(timeoutMs = 3000): Promise<boolean> {
    return (await this.until(() => (this.ended ? true : undefined), timeoutMs)) ?? false;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
