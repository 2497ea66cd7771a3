/**
 * The HTTP fallback across nodes (transport/stream-routes.ts): frames POSTed to this node for a
 * streaming session another node holds go to that node on its own topic, and this node answers
 * the POST only once the holding node said what it did with them. So a client that sends one
 * POST at a time has its frames processed in the order it POSTed them, whichever node took each.
 *
 * Contract: `forward` resolves 'ok' (the holding node handed the frames to the session, in
 * order), 'refused' (wrong key: nothing done) or 'unknown' (no such session there, or no answer
 * within `timeoutMs`: the node is gone or the bus is away; the client's stream ends or already
 * did). Delivery on the bus is at most once; a lost request or answer is an 'unknown'.
 */
import type { Logger } from '../log.js';
import { streamReplyTopic, streamTopic, type StreamStatus } from './cluster-messages.js';
import type { Hub } from './hub.js';

export interface StreamRelayDeps {
  hub: Pick<Hub, 'onSystem' | 'toNodes'>;
  nodeId: string;
  log: Logger;
  /** Frames (or the close) for a session of this node (transport.deliverStream). */
  deliver(id: string, key: string, frames: string[], close: boolean): StreamStatus;
  timeoutMs?: number;
}

export class StreamRelay {
  private readonly waiting = new Map<string, (status: StreamStatus) => void>();
  private counter = 0;

  constructor(private readonly d: StreamRelayDeps) {}

  async start(): Promise<void> {
    await this.d.hub.onSystem('$stream', (m) => {
      const status = this.d.deliver(m.id, m.key, m.frames, m.close);
      this.d.hub.toNodes('$stream-reply', { rid: m.rid, status }, streamReplyTopic(m.from))
        .catch((err) => this.d.log.warn({ err }, 'stream frames taken, answer not sent'));
    }, streamTopic(this.d.nodeId));
    await this.d.hub.onSystem('$stream-reply', (m) => this.waiting.get(m.rid)?.(m.status), streamReplyTopic(this.d.nodeId));
  }

  /** Send frames to the node the session id names, and wait for its answer. */
  async forward(id: string, key: string, frames: string[], close: boolean): Promise<StreamStatus> {
    const rid = `${this.d.nodeId}:${(this.counter += 1)}`;
    const holder = id.slice(0, id.indexOf(':'));
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<StreamStatus>((resolve) => {
      this.waiting.set(rid, resolve);
      timer = setTimeout(() => resolve('unknown'), this.d.timeoutMs ?? 3000);
    });
    try {
      await this.d.hub.toNodes('$stream', { rid, from: this.d.nodeId, id, key, frames, close }, streamTopic(holder));
      return await answer;
    } finally {
      clearTimeout(timer);
      this.waiting.delete(rid);
    }
  }
}
