/**
 * Prometheus metrics (prom-client) on a registry owned by one gateway, so several nodes
 * in one test process never share counters. Served at GET /metrics.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { stampedTs } from '../../shared/frames.js';

export function createMetrics(nodeId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry });
  const m = {
    registry,
    connections: new Gauge({ name: 'gateway_connections', help: 'Open connections on this node (WebSockets and HTTP streams)', registers: [registry] }),
    httpStreams: new Gauge({ name: 'gateway_http_streams', help: 'Open HTTP streaming sessions (the fallback) on this node', registers: [registry] }),
    usersOnline: new Gauge({ name: 'gateway_users_online_local', help: 'Distinct users with a connection on this node', registers: [registry] }),
    upgrades: new Counter({ name: 'gateway_upgrades_total', help: 'Upgrade requests by outcome', labelNames: ['outcome'], registers: [registry] }),
    messagesIn: new Counter({ name: 'gateway_messages_in_total', help: 'Frames received from clients', registers: [registry] }),
    messagesOut: new Counter({
      name: 'gateway_messages_out_total',
      help: 'Action messages fanned out to local topics (per message, not per socket), by where they came from: local, remote (another node) or history (every node relays those)',
      labelNames: ['source'], registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'gateway_publish_to_deliver_seconds', help: 'From the publisher node stamping a message to this node fanning it out',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1], registers: [registry],
    }),
    redisUp: new Gauge({ name: 'gateway_redis_up', help: '1 while the cluster bus accepts publishes', registers: [registry] }),
    draining: new Gauge({ name: 'gateway_draining', help: '1 while this node drains', registers: [registry] }),
    rateLimited: new Counter({ name: 'gateway_rate_limited_total', help: 'Frames or upgrades refused by a rate limit', labelNames: ['limit'], registers: [registry] }),
    slowConsumers: new Counter({ name: 'gateway_slow_consumer_closes_total', help: 'Sockets closed for not reading (4008)', registers: [registry] }),
    tokenExpiredCloses: new Counter({ name: 'gateway_token_expired_closes_total', help: 'Sockets closed because the token expired (4001)', registers: [registry] }),
    presenceDrift: new Counter({ name: 'gateway_presence_drift_repaired_total', help: 'User counters found wrong by the audit and repaired', registers: [registry] }),
    historyGapsLost: new Counter({
      name: 'gateway_history_gaps_lost_total', help: 'Live gaps on history actions that history no longer held (messages this node could not deliver)', registers: [registry],
    }),
    reapedNodes: new Counter({ name: 'gateway_reaped_nodes_total', help: 'Dead nodes settled by this node', registers: [registry] }),
    protocolErrors: new Counter({ name: 'gateway_protocol_errors_total', help: 'Error frames sent, by code', labelNames: ['code'], registers: [registry] }),
    webhookDelivered: new Counter({ name: 'gateway_webhook_events_delivered_total', help: 'Event stream entries a webhook receiver acknowledged (2xx)', registers: [registry] }),
    webhookRetried: new Counter({ name: 'gateway_webhook_retries_total', help: 'Webhook requests sent again after a failure', registers: [registry] }),
    webhookFailed: new Counter({ name: 'gateway_webhook_failures_total', help: 'Webhook requests that failed (non-2xx, timeout, network), by cause', labelNames: ['cause'], registers: [registry] }),
    webhookGaps: new Counter({ name: 'gateway_webhook_gaps_total', help: 'Gap markers sent: entries trimmed or lost before delivery', registers: [registry] }),
    webhookLag: new Gauge({ name: 'gateway_webhook_lag_events', help: 'Event stream entries not yet handed to the receiver (on the delivering node)', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * Counts one message fanned out on this node, by source; messages that crossed the bus
 * (remote, history) also feed the publish-to-deliver latency histogram.
 */
export function fanOutCounter(m: Pick<Metrics, 'messagesOut' | 'deliveryLatency'>, source: 'local' | 'remote' | 'history') {
  return (frame: string): void => {
    m.messagesOut.inc({ source });
    if (source === 'local') return;
    const ts = stampedTs(frame);
    if (ts !== undefined) m.deliveryLatency.observe(Math.max(0, Date.now() - ts) / 1000);
  };
}
