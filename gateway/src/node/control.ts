/**
 * Commands for every node of the cluster (the server API's disconnect and unsubscribe), over
 * two system topics of the broker (`$`-names no action can take):
 * - `run` executes the command on this node, publishes it to the others and waits until every
 *   other registered node (presence leases) answered with what it did, at most `timeoutMs`;
 *   the result names the nodes that did not answer.
 * - Delivery is pub/sub's: at most once per node. A node whose subscriber was reconnecting
 *   misses the command and does not answer; the caller sees it in `missing` and may retry
 *   (both commands are idempotent).
 */
import type { Broker } from '../broker/types.js';
import type { Logger } from '../log.js';
import type { PresenceStore } from '../presence/types.js';
import type { Hub } from './hub.js';

export interface DisconnectCommand {
  op: 'disconnect';
  userId: string;
  connectionId?: string;
  code: number;
  reason: string;
  /** The user's tokens issued at or before this second are revoked (every node notes it). */
  revokedAt?: number;
}
export interface UnsubscribeCommand { op: 'unsubscribe'; userId: string; action: string; reason: string }
export type ControlCommand = DisconnectCommand | UnsubscribeCommand;

/** What the command did across the cluster. */
export interface ControlResult {
  /** Connections closed or unsubscribed, summed over the nodes that answered. */
  affected: number;
  /** Nodes that answered, this one included. */
  nodes: string[];
  /** Registered nodes that did not answer in time. */
  missing: string[];
}

/** Runs a command on this node's connections; returns how many it affected. */
export type ControlHandler = (cmd: ControlCommand) => Promise<number>;

const REQUEST = '$control';
const REPLY = '$control-reply';

interface Waiting { replies: Map<string, number>; expected: Set<string>; done: () => void }

export class ClusterControl {
  private handler: ControlHandler = async () => 0;
  private readonly waiting = new Map<string, Waiting>();
  private counter = 0;

  constructor(
    private readonly d: { hub: Hub; broker: Broker; presence: Pick<PresenceStore, 'nodes'>; nodeId: string; log: Logger; timeoutMs?: number },
  ) {}

  async start(handler: ControlHandler): Promise<void> {
    this.handler = handler;
    await this.d.hub.onSystem(REQUEST, (payload) => void this.onRequest(payload));
    await this.d.hub.onSystem(REPLY, (payload) => this.onReply(payload));
  }

  async run(cmd: ControlCommand): Promise<ControlResult> {
    const id = `${this.d.nodeId}:${(this.counter += 1)}`;
    const registered = (await this.d.presence.nodes()).map((n) => n.id).filter((n) => n !== this.d.nodeId);
    const wait: Waiting = { replies: new Map(), expected: new Set(registered), done: () => {} };
    const answered = new Promise<void>((resolve) => (wait.done = resolve));
    this.waiting.set(id, wait);
    try {
      await this.d.broker.publish(REQUEST, JSON.stringify({ id, cmd }));
      const mine = await this.handler(cmd);
      if (wait.expected.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([answered, new Promise<void>((r) => (timer = setTimeout(r, this.d.timeoutMs ?? 2000)))]);
        clearTimeout(timer);
      }
      const others = [...wait.replies.values()].reduce((a, b) => a + b, 0);
      return { affected: mine + others, nodes: [this.d.nodeId, ...wait.replies.keys()], missing: [...wait.expected] };
    } finally {
      this.waiting.delete(id);
    }
  }

  private async onRequest(payload: string): Promise<void> {
    let id: string;
    let cmd: ControlCommand;
    try {
      ({ id, cmd } = JSON.parse(payload) as { id: string; cmd: ControlCommand });
    } catch {
      return this.d.log.warn('dropped a malformed control command');
    }
    let affected = 0;
    try {
      affected = await this.handler(cmd);
    } catch (err) {
      this.d.log.warn({ err, op: cmd.op }, 'control command failed on this node');
    }
    this.d.broker.publish(REPLY, JSON.stringify({ id, node: this.d.nodeId, affected }))
      .catch((err) => this.d.log.warn({ err }, 'control reply not sent'));
  }

  private onReply(payload: string): void {
    let reply: { id: string; node: string; affected: number };
    try {
      reply = JSON.parse(payload) as typeof reply;
    } catch {
      return;
    }
    const wait = this.waiting.get(reply.id);
    if (!wait) return;
    wait.replies.set(reply.node, Number(reply.affected) || 0);
    wait.expected.delete(reply.node);
    if (wait.expected.size === 0) wait.done();
  }
}
