/**
 * The `exact` jitter client: the client package's RealtimeClient, as an app in Node uses it.
 * Its socket is reached through the WebSocket constructor it is given, so the bench can drop
 * it abruptly (terminate: the server sees 1006); the package reconnects with its own backoff to
 * the next URL, and re-joins with `since` + `epoch` in one `joins` frame.
 */
import WebSocket from 'ws';
import { RealtimeClient, type WebSocketConstructor } from '../../client/src/index.js';
import type { Histogram } from './stats.js';

export interface JitterTimes { meanDropMs: number }

export class PackageJitterClient {
  first?: string;
  readonly got: number[] = [];
  drops = 0;
  unrecovered = 0;
  /** Connections opened (the first included): reconnect attempts are this minus one. */
  attempts = 0;
  private socket?: WebSocket;
  private welcomedAt = 0;
  private stopped = false;
  private dropTimer?: NodeJS.Timeout;
  private readonly client: RealtimeClient;

  constructor(urls: string[], token: string, action: string, private readonly spec: JitterTimes, catchUp: Histogram) {
    const holder = this;
    class Tracked extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        holder.socket = this;
        holder.attempts += 1;
      }
    }
    this.client = new RealtimeClient(urls, { token, WebSocket: Tracked as unknown as WebSocketConstructor });
    const ch = this.client.channel(action);
    ch.on('message', (m) => this.got.push((m.data as { n: number }).n));
    ch.on('unrecovered', () => (this.unrecovered += 1));
    ch.on('joined', ({ result, rejoin }) => {
      // Rejoins only: the first joins all start together and measure the start, not recovery.
      if (rejoin) catchUp.record(performance.now() - this.welcomedAt);
      this.first ??= result.offset;
      this.scheduleDrop();
    });
    this.client.on('welcome', () => (this.welcomedAt = performance.now()));
  }

  get joined(): boolean {
    return this.client.state === 'connected' && this.first !== undefined;
  }

  async connect(action: string): Promise<void> {
    await this.client.connect();
    await this.client.channel(action).join();
  }

  private scheduleDrop(): void {
    if (this.stopped) return;
    clearTimeout(this.dropTimer);
    const after = -Math.log(1 - Math.random()) * this.spec.meanDropMs;
    this.dropTimer = setTimeout(() => {
      if (this.stopped) return;
      this.drops += 1;
      this.socket?.terminate();
    }, after);
  }

  /** No more drops; reconnects in progress still complete. */
  calm(): void {
    this.stopped = true;
    clearTimeout(this.dropTimer);
  }

  close(): void {
    this.calm();
    this.client.close();
  }
}
