/**
 * HTTP streaming sessions: the fallback transport for networks that do not let a WebSocket
 * through. The server → client frames are the WebSocket's, as Server-Sent Events on one
 * long-lived response (`GET /http/stream`, `text/event-stream`); client → server frames are
 * POSTed (`POST /http/send`) to any node. A session is a LocalSocket like any WebSocket: topics,
 * backpressure, close codes; the session layer cannot tell the two apart.
 *
 * Events: `event: session` first (`{"id","key"}`: what the POSTs carry), then one `data:` event
 * per frame, and `event: close` (`{"code","reason"}`) just before the server ends the response.
 *
 * Contract:
 * - events written in one event-loop turn go out as one write per stream at the end of the turn
 *   (setImmediate), in order: a chunked HTTP body costs uWebSockets.js several socket writes per
 *   `write()`, so a message fanned out to N streams costs N writes, not 4 N;
 * - a write the kernel does not take at once is buffered by uWebSockets.js and counted in
 *   `bufferedAmount()` until the response drains; past `maxBackpressureBytes` the stream is closed
 *   4008 at once (the session's sweep closes it 4008 earlier, after two passes near half of it);
 * - a stream that sent no POST (its pings included) for `idleTimeoutS` is closed 1001, as a
 *   silent WebSocket is dropped; one this side wrote nothing to for KEEPALIVE_MS gets a comment
 *   line, so proxies with a 30 s idle timeout (HAProxy's default) keep it open;
 * - the client going away (the response aborted) is a close with 1006.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { HttpResponse } from 'uWebSockets.js';
import type { LocalSocket } from './socket.js';

/** Local topics of stream sessions (WebSockets use uWebSockets.js's own), and the end-of-turn flush of their writes. */
export class StreamTopics {
  private readonly byTopic = new Map<string, Set<StreamSocket>>();
  private readonly dirty = new Set<StreamSocket>();
  private flushing = false;

  /** `s` has events waiting: written out at the end of this turn, with everyone else's. */
  queue(s: StreamSocket): void {
    this.dirty.add(s);
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      const sockets = [...this.dirty];
      this.dirty.clear();
      for (const socket of sockets) socket.flush();
    });
  }

  subscribe(topic: string, s: StreamSocket): void {
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(s);
  }

  unsubscribe(topic: string, s: StreamSocket): void {
    const set = this.byTopic.get(topic);
    if (set?.delete(s) && set.size === 0) this.byTopic.delete(topic);
  }

  /** `text` to every stream on `topic` but `except`: the event is built once. */
  publish(topic: string, text: string, except?: StreamSocket): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    const event = dataEvent(text);
    for (const s of set) if (s !== except) s.write(event);
  }

  count(topic: string): number {
    return this.byTopic.get(topic)?.size ?? 0;
  }
}

export const dataEvent = (text: string) => `data: ${text}\n\n`;

/** What a session's node did with POSTed frames: took them, has no such session, or refused the key. */
export type StreamStatus = 'ok' | 'unknown' | 'refused';

/** A stream this side wrote nothing to for this long gets a comment line (`:`). */
export const KEEPALIVE_MS = 15_000;

export interface StreamOptions {
  topics: StreamTopics;
  /** What a WebSocket sender's publish reaches besides streams (uWebSockets.js's topics). */
  publishToSockets(topic: string, text: string): void;
  maxBackpressureBytes: number;
  /** Called when a stream is ended here for falling past maxBackpressureBytes. */
  onSlowConsumer?: () => void;
}

export class StreamSocket implements LocalSocket {
  readonly key = randomBytes(16).toString('base64url');
  private state: 'open' | 'closed' = 'open';
  private buffered = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly subscribed = new Set<string>();
  /** Last time the client showed it is there (a POST). */
  lastSeen = Date.now();
  /** Last time something was written to it. */
  lastWrite = Date.now();

  constructor(readonly id: string, private readonly res: HttpResponse, private readonly o: StreamOptions, private readonly ended: (code: number) => void) {}

  isOpen(): boolean {
    return this.state === 'open';
  }

  /** Whether `key` is this session's (constant time). */
  owns(key: string): boolean {
    const a = Buffer.from(this.key);
    const b = Buffer.from(key);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  send(text: string): boolean {
    return this.write(dataEvent(text));
  }

  /** Queue an event already framed (written at the end of the turn); false when the stream is behind. */
  write(event: string): boolean {
    if (this.state !== 'open') return false;
    this.lastWrite = Date.now();
    this.pending.push(event);
    this.pendingBytes += event.length;
    this.o.topics.queue(this);
    return this.buffered === 0;
  }

  /** Write what is queued, in one corked write. */
  flush(): void {
    if (this.state !== 'open' || this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    if (ok) return;
    this.buffered += Buffer.byteLength(chunk);
    // A reader this far behind would not read a close event either: end the response.
    if (this.buffered > this.o.maxBackpressureBytes) {
      this.o.onSlowConsumer?.();
      this.end(4008);
    } else this.res.onWritable(() => {
      this.buffered = 0;
      return true;
    });
  }

  subscribe(topic: string): void {
    this.subscribed.add(topic);
    this.o.topics.subscribe(topic, this);
  }

  unsubscribe(topic: string): void {
    this.subscribed.delete(topic);
    this.o.topics.unsubscribe(topic, this);
  }

  publishExceptSelf(topic: string, text: string): void {
    this.o.publishToSockets(topic, text);
    this.o.topics.publish(topic, text, this);
  }

  bufferedAmount(): number {
    return this.buffered + this.pendingBytes;
  }

  /** Tell the client why (`event: close`), then end the response. */
  close(code: number, reason: string): void {
    if (this.state !== 'open') return;
    this.write(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
    this.flush();
    this.end(code);
  }

  private end(code: number): void {
    if (this.state !== 'open') return;
    this.finish(code);
    this.res.cork(() => this.res.end());
  }

  /** The response is gone (aborted by the client, or ended here): forget topics, report once. */
  finish(code: number): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    for (const topic of this.subscribed) this.o.topics.unsubscribe(topic, this);
    this.subscribed.clear();
    this.ended(code);
  }
}
