/**
 * A WebSocket test client (the `ws` package) that records every frame it receives and
 * lets a test wait, with a deadline, for a frame matching a predicate.
 */
import WebSocket from 'ws';

export type Frame = Record<string, any>;

export class TestClient {
  readonly frames: Frame[] = [];
  closed?: { code: number; reason: string };
  private waiters: Array<() => void> = [];
  private nextId = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      this.frames.push(isBinary ? { binary: true } : JSON.parse(data.toString()));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  /** Connect; resolves after the welcome frame, rejects with the HTTP status on a refused upgrade. */
  static async connect(url: string, opts: { token?: string; protocols?: string[]; origin?: string; waitWelcome?: boolean } = {}): Promise<TestClient> {
    const full = opts.token ? `${url}?token=${encodeURIComponent(opts.token)}` : url;
    const ws = new WebSocket(full, opts.protocols, { origin: opts.origin, handshakeTimeout: 10_000 });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once('error', reject);
    });
    if (opts.waitWelcome !== false) await client.welcomed();
    return client;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves at the next frame or close, or after `ms`. */
  private wakeOrAfter(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Wait for the welcome; a socket closed before it fails at once, naming the close code. */
  private async welcomed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.frames.some((f) => f.type === 'welcome')) {
      if (this.closed) throw new Error(`closed ${this.closed.code} (${this.closed.reason}) before the welcome`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no welcome within ${timeoutMs} ms`);
      await this.wakeOrAfter(left);
    }
  }

  /** Wait for the first frame (already received or future) matching `match`. */
  async next(match: (f: Frame) => boolean, timeoutMs = 5000, from = 0): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.wakeOrAfter(left);
    }
  }

  /** Send a command with a fresh id and wait for its ack or error. */
  async request(frame: Frame, timeoutMs = 5000): Promise<Frame> {
    this.nextId += 1;
    const id = `r${this.nextId}`;
    const mark = this.frames.length;
    this.send({ ...frame, id });
    return this.next((f) => (f.type === 'ack' || f.type === 'error') && f.id === id, timeoutMs, mark);
  }

  /** Who this client believes is online: its welcome, then presence changes and resets, in order (first pages only). */
  onlineView(): string[] {
    let online = new Set<string>();
    for (const f of this.frames) {
      if (f.type === 'welcome' || f.type === 'presence_reset') online = new Set(f.online);
      if (f.type === 'presence') for (const ch of f.changes) online[ch.status === 'online' ? 'add' : 'delete'](ch.userId);
    }
    return [...online].sort();
  }

  /** Presence changes received so far, flattened, optionally for one user. */
  presence(userId?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'presence').flatMap((f) => f.changes).filter((c: Frame) => !userId || c.userId === userId);
  }

  messages(action?: string): Frame[] {
    return this.frames.filter((f) => f.type === 'message' && (!action || f.action === action));
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('socket did not close in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(code = 1000): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close(code);
  }
}
