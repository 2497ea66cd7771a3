/**
 * The one path for every message published to an action, from a client or from a backend.
 *
 * - Actions without history: members on this node get the frame at once through the local
 *   topic (the sender too only with `echo`), then it goes to the other nodes through the
 *   broker. If the broker is unreachable the publish rejects after local delivery.
 * - Actions with history: the store appends and publishes in one step, and every node,
 *   this one included, relays it when it comes back from Redis, so all members (the sender
 *   included) receive it in history order with its offset. If the store is unreachable,
 *   members on this node still get it (without an offset) and the publish rejects.
 */
import type { Broker } from './broker/types.js';
import type { LocalFanout, LocalSocket } from './connection.js';
import { topics } from './connection.js';
import { policyFor, type HistoryRule } from './history/policy.js';
import type { HistoryStore } from './history/types.js';

export interface PublishInput {
  action: string;
  from: { userId: string; username: string; displayName: string } | { system: true };
  data: unknown;
  /** The publishing socket: excluded from local delivery unless `echo`. */
  sender?: LocalSocket;
  echo?: boolean;
}

export class PublishFailed extends Error {}

export type Publish = (input: PublishInput) => Promise<{ ts: number; offset?: string }>;

export function createPublisher(d: { fanout: LocalFanout; broker: Broker; history: HistoryStore; rules: readonly HistoryRule[] }): Publish {
  return async ({ action, from, data, sender, echo }) => {
    const ts = Date.now();
    const topic = topics.action(action);
    const policy = policyFor(d.rules, action);
    if (policy) {
      const head = JSON.stringify({ type: 'message', action, from, data }).slice(0, -1);
      try {
        const { offset } = await d.history.publish(action, policy, head, ts);
        return { ts, offset };
      } catch {
        d.fanout.publish(topic, `${head},"ts":${ts}}`);
        throw new PublishFailed('delivered to members on this node only, without an offset: the history store is unreachable');
      }
    }
    const text = JSON.stringify({ type: 'message', action, from, data, ts });
    if (sender && !echo) sender.publishExceptSelf(topic, text);
    else d.fanout.publish(topic, text);
    try {
      await d.broker.publish(action, text);
    } catch {
      throw new PublishFailed('delivered to members on this node only: the cluster bus is unreachable');
    }
    return { ts };
  };
}
