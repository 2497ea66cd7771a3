/**
 * The one path for every message published to an action, from a client or from a backend.
 *
 * - Actions without history: members on this node get the frame at once through the local
 *   topic (the sender too only with `echo`), then it goes to the other nodes through the
 *   broker. If the broker is unreachable the publish rejects after local delivery.
 * - Actions with history: the broker appends and publishes in one step, and every node,
 *   this one included, relays it when it comes back, so all members (the sender included)
 *   receive it in history order with its offset. If the broker is unreachable the publish
 *   rejects and nobody receives it: a message that is not in the stream would break "every
 *   message once, in order" for members who recover later.
 */
import type { Broker, HistoryPolicy } from '../broker/types.js';
import type { LocalFanout, LocalSocket } from '../connection.js';
import { topics } from '../connection.js';
import { messageFrame, type MessageFields } from '../../../shared/frames.js';

export interface PublishInput {
  action: string;
  from: MessageFields['from'];
  data: unknown;
  /** The publishing socket: excluded from local delivery unless `echo`. */
  sender?: LocalSocket;
  echo?: boolean;
}

export class PublishFailed extends Error {}

/**
 * The frame as members would receive it exceeds MAX_PAYLOAD_BYTES. Re-encoding can make a
 * message larger than the client sent (`1e20` becomes `100000000000000000000`), so the limit is
 * checked on what would go out; nothing was delivered or stored.
 */
export class PublishTooLarge extends Error {}

export type Publish = (input: PublishInput) => Promise<{ ts: number; offset?: string }>;

export interface PublisherDeps {
  fanout: LocalFanout;
  broker: Broker;
  /** The history policy of an action, if it keeps one (the channel policy). */
  historyOf: (action: string) => HistoryPolicy | undefined;
  /** Largest frame members may receive (MAX_PAYLOAD_BYTES). */
  maxFrameBytes: number;
  /** Called once per frame fanned out on this node by a publish (metrics). */
  onFanOut?: (frame: string) => void;
}

export function createPublisher(d: PublisherDeps): Publish {
  return async ({ action, from, data, sender, echo }) => {
    const ts = Date.now();
    const topic = topics.action(action);
    const frame = messageFrame({ action, from, data, ts });
    const bytes = Buffer.byteLength(frame);
    if (bytes > d.maxFrameBytes) throw new PublishTooLarge(`the message is ${bytes} bytes once encoded; at most ${d.maxFrameBytes}`);
    const history = d.historyOf(action);
    if (history) {
      try {
        const { offset } = await d.broker.publish(action, frame, { history });
        return { ts, offset };
      } catch {
        throw new PublishFailed('not delivered: the history store is unreachable');
      }
    }
    if (sender && !echo) sender.publishExceptSelf(topic, frame);
    else d.fanout.publish(topic, frame);
    d.onFanOut?.(frame);
    try {
      await d.broker.publish(action, frame);
    } catch {
      throw new PublishFailed('delivered to members on this node only: the cluster bus is unreachable');
    }
    return { ts };
  };
}
