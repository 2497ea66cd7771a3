/**
 * A test user that behaves like the page's client during a deploy: on a 1012 close
 * (service restart) it reconnects after a random 0..jitterMs delay, retrying refused or
 * failed handshakes quickly until a deadline. It keeps every connection it had, so a test
 * can read all frames received and every close seen across reconnects.
 */
import { TestClient, type Frame } from '../harness/client.js';

export interface Move {
  closedAt: number;
  /** When the next welcome arrived; undefined while still reconnecting (or given up). */
  welcomedAt?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ReconnectingClient {
  /** Every connection, oldest first. */
  readonly sessions: TestClient[] = [];
  /** Close codes of established connections, in order (our own stop() not included). */
  readonly closes: number[] = [];
  readonly moves: Move[] = [];
  /** Upgrade attempts that failed (refused port, 503 from a draining node, reset). */
  handshakeFailures = 0;
  /** Why each failed attempt failed, with when it started and ended (for the test's report). */
  readonly failures: string[] = [];
  gaveUp = false;
  private stopped = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly jitterMs = 500,
    private readonly retryForMs = 20_000,
  ) {}

  /** First connection; rejects if it cannot connect within the retry window. */
  async start(): Promise<this> {
    await this.open();
    if (this.gaveUp) throw new Error(`could not connect to ${this.url}`);
    return this;
  }

  get current(): TestClient | undefined {
    return this.sessions[this.sessions.length - 1];
  }

  get connected(): boolean {
    const c = this.current;
    return !!c && !c.closed;
  }

  /** The `node` of each welcome, one per connection. */
  nodes(): string[] {
    return this.sessions.map((s) => s.frames.find((f) => f.type === 'welcome')?.node as string);
  }

  frames(): Frame[] {
    return this.sessions.flatMap((s) => s.frames);
  }

  presence(userId?: string): Frame[] {
    return this.sessions.flatMap((s) => s.presence(userId));
  }

  stop(): void {
    this.stopped = true;
    this.current?.close();
  }

  private async open(): Promise<void> {
    const deadline = Date.now() + this.retryForMs;
    while (!this.stopped) {
      const tried = Date.now();
      try {
        const c = await TestClient.connect(this.url, { protocols: ['bearer', this.token] });
        this.attach(c);
        return;
      } catch (err) {
        this.handshakeFailures += 1;
        this.failures.push(`${(err as Error).message.slice(0, 200)} after ${Date.now() - tried} ms`);
        if (Date.now() > deadline) {
          this.gaveUp = true;
          return;
        }
        await sleep(50 + Math.random() * 150);
      }
    }
  }

  private attach(c: TestClient): void {
    if (this.stopped) return c.close();
    this.sessions.push(c);
    const pending = this.moves[this.moves.length - 1];
    if (pending && pending.welcomedAt === undefined) pending.welcomedAt = Date.now();
    c.ws.once('close', (code: number) => {
      if (this.stopped) return;
      this.closes.push(code);
      this.moves.push({ closedAt: Date.now() });
      // Like the page: a restart close means "come back soon, anywhere"; anything else is a
      // failure the test reports, and the client still comes back so later checks can run.
      const delay = code === 1012 ? Math.random() * this.jitterMs : 200;
      setTimeout(() => void this.open(), delay);
    });
  }
}
