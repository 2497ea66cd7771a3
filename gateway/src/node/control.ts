/**
 * Commands for every node of the cluster (the server API's disconnect and unsubscribe, profile
 * changes), over two node-to-node topics (cluster-messages.ts):
 * - `run` executes the command on this node, publishes it to the others and waits until every
 *   other registered node (presence leases) answered with what it did, at most `timeoutMs`;
 *   the result names the nodes that did not answer.
 * - `tell` executes the command on this node and publishes it to the others, waiting for nobody
 *   (profile changes: a node that misses one shows the new profile at its clients' next welcome).
 * - Delivery is pub/sub's: at most once per node. A node whose subscriber was reconnecting
 *   misses the command and does not answer; the caller sees it in `missing` and may retry
 *   (both commands are idempotent).
 */
import type { Logger } from '../log.js';
import type { PresenceStore } from '../presence/types.js';
import type { ControlCommand, SystemMessage } from './cluster-messages.js';
import type { Hub } from './hub.js';

export type { ControlCommand } from './cluster-messages.js';

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

interface Waiting { replies: Map<string, number>; expected: Set<string>; done: () => void }

export class ClusterControl {
  private handler: ControlHandler = async () => 0;
  private readonly waiting = new Map<string, Waiting>();
  private counter = 0;

  constructor(
    private readonly d: { hub: Pick<Hub, 'onSystem' | 'toNodes'>; presence: Pick<PresenceStore, 'nodes'>; nodeId: string; log: Logger; timeoutMs?: number },
  ) {}

  async start(handler: ControlHandler): Promise<void> {
    this.handler = handler;
    await this.d.hub.onSystem('$control', (msg) => void this.onRequest(msg));
    await this.d.hub.onSystem('$control-reply', (msg) => this.onReply(msg));
  }

  async run(cmd: ControlCommand): Promise<ControlResult> {
    const id = `${this.d.nodeId}:${(this.counter += 1)}`;
    const registered = (await this.d.presence.nodes()).map((n) => n.id).filter((n) => n !== this.d.nodeId);
    const wait: Waiting = { replies: new Map(), expected: new Set(registered), done: () => {} };
    const answered = new Promise<void>((resolve) => (wait.done = resolve));
    this.waiting.set(id, wait);
    try {
      await this.d.hub.toNodes('$control', { id, cmd });
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

  /** Run `cmd` here and on every other node, waiting for no answer; a bus failure is logged. */
  async tell(cmd: ControlCommand): Promise<void> {
    this.d.hub.toNodes('$control', { cmd }).catch((err) => this.d.log.warn({ err, op: cmd.op }, 'control command not sent to the other nodes'));
    await this.handler(cmd);
  }

  private async onRequest({ id, cmd }: SystemMessage<'$control'>): Promise<void> {
    let affected = 0;
    try {
      affected = await this.handler(cmd);
    } catch (err) {
      this.d.log.warn({ err, op: cmd.op }, 'control command failed on this node');
    }
    if (id === undefined) return;
    this.d.hub.toNodes('$control-reply', { id, node: this.d.nodeId, affected })
      .catch((err) => this.d.log.warn({ err }, 'control reply not sent'));
  }

  private onReply(reply: SystemMessage<'$control-reply'>): void {
    const wait = this.waiting.get(reply.id);
    if (!wait) return;
    wait.replies.set(reply.node, reply.affected);
    wait.expected.delete(reply.node);
    if (wait.expected.size === 0) wait.done();
  }
}
