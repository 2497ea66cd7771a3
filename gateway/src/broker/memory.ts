/**
 * The in-process twin of the Redis broker, for unit tests and single-node runs. Several
 * MemoryBrokers on one bus behave like several nodes on one Redis:
 * - delivery is asynchronous (one microtask per receiving node and message), in publish order;
 * - a node never receives its own publishes; only nodes subscribed to the topic receive,
 *   checked both when publishing and when delivering (so `unsubscribe` takes effect at once);
 * - `bus.setReachable(false)` simulates an outage: publishes reject, `isReady()` is false,
 *   subscriptions are kept and work again once the bus is reachable.
 */
import type { Logger } from '../log.js';
import type { Broker } from './types.js';

export interface MemoryBus {
  /** Simulate the bus going away (`false`) and coming back (`true`). */
  setReachable(reachable: boolean): void;
  isReachable(): boolean;
  /** @internal used by MemoryBroker */
  readonly nodes: Set<MemoryBroker>;
}

export function createMemoryBus(): MemoryBus {
  let reachable = true;
  return {
    nodes: new Set(),
    setReachable: (value) => {
      reachable = value;
    },
    isReachable: () => reachable,
  };
}

type Handler = (topic: string, payload: string) => void;

export class MemoryBroker implements Broker {
  private readonly topics = new Set<string>();
  private handler: Handler | undefined;
  private closed = false;

  /**
   * `logger`: where a throwing message handler is reported. Without one the error is
   * rethrown from a fresh task, so a test sees it as an uncaught exception.
   */
  constructor(private readonly bus: MemoryBus, readonly nodeId: string, private readonly logger?: Logger) {
    bus.nodes.add(this);
  }

  async publish(topic: string, payload: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    if (!this.bus.isReachable()) throw new Error('broker unavailable: memory bus unreachable');
    for (const node of this.bus.nodes) {
      if (node !== this && node.topics.has(topic)) queueMicrotask(() => node.deliver(topic, payload));
    }
  }

  async subscribe(topic: string): Promise<void> {
    if (this.closed) throw new Error('broker closed');
    this.topics.add(topic);
  }

  async unsubscribe(topic: string): Promise<void> {
    this.topics.delete(topic);
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
  }

  isReady(): boolean {
    return !this.closed && this.bus.isReachable();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
    this.bus.nodes.delete(this);
  }

  private deliver(topic: string, payload: string): void {
    if (this.closed || !this.topics.has(topic) || !this.handler) return;
    try {
      this.handler(topic, payload);
    } catch (err) {
      if (!this.logger) {
        setImmediate(() => {
          throw err;
        });
        return;
      }
      this.logger.error({ err, topic }, 'broker message handler threw');
    }
  }
}
