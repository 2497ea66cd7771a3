/**
 * The Redis names of a topic, in the two layouts the broker speaks (docs/SCALING.md). P is the
 * prefix the broker was given.
 *
 * classic (one Redis, Sentinel): PUBLISH / SUBSCRIBE, names as they always were
 *   channel  P action:<topic>        stream  P history:<topic>     meta  P history-meta:<topic>
 *
 * sharded (Redis Cluster): SPUBLISH / SSUBSCRIBE; the topic is the names' hash tag, so a
 * topic's channel, stream and meta share one slot (lua/publish.lua appends and publishes in
 * one script) while different topics spread over the slots, hence over the primaries.
 *   channel  P action:{<topic>}      stream  P history:{<topic>}   meta  P history-meta:{<topic>}
 * P must then hold no brace (its own tag would pull every topic into one slot), and a topic
 * must hold none either (a '}' would end the tag early, '{' is refused for symmetry): action
 * names never do (shared/protocol.ts ACTION_NAME), nor do the reserved `$` topics.
 */
export interface TopicNames {
  readonly sharded: boolean;
  /** The pub/sub channel of `topic`. Throws (sharded) for a topic with a brace. */
  channel(topic: string): string;
  /** The topic whose channel this is; undefined for anybody else's channel. */
  topicOf(channel: string): string | undefined;
  /** KEYS of the history scripts: [stream, meta]. */
  history(topic: string): [stream: string, meta: string];
  /**
   * Sharded only: a channel in `topic`'s slot that is never subscribed. SUNSUBSCRIBE from it
   * changes nothing and is answered on the connection that holds `topic`: a round trip that
   * confirms every command sent there before it (./redis-subscriptions.ts).
   */
  probe(topic: string): string;
}

export function classicNames(prefix: string): TopicNames {
  const action = `${prefix}action:`;
  return {
    sharded: false,
    channel: (topic) => action + topic,
    topicOf: (channel) => (channel.startsWith(action) ? channel.slice(action.length) : undefined),
    history: (topic) => [`${prefix}history:${topic}`, `${prefix}history-meta:${topic}`],
    probe: () => {
      throw new Error('probe channels exist in the sharded layout only');
    },
  };
}

export function shardedNames(prefix: string): TopicNames {
  if (/[{}]/.test(prefix)) throw new Error(`the sharded broker's prefix must hold no hash tag (got "${prefix}")`);
  const action = `${prefix}action:{`;
  const tag = (topic: string) => {
    if (/[{}]/.test(topic)) throw new Error(`topic "${topic}" holds a brace: it cannot be a hash tag`);
    return `{${topic}}`;
  };
  return {
    sharded: true,
    channel: (topic) => `${prefix}action:${tag(topic)}`,
    topicOf: (channel) => (channel.startsWith(action) && channel.endsWith('}') ? channel.slice(action.length, -1) : undefined),
    history: (topic) => [`${prefix}history:${tag(topic)}`, `${prefix}history-meta:${tag(topic)}`],
    probe: (topic) => `${prefix}probe:${tag(topic)}`,
  };
}
