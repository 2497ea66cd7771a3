/** What the operator API and its feed send (gateway/src/api/admin*.ts), as the page reads it. */
import type { ClusterEvent } from '../../../shared/events.js';

export type { ClusterEvent };

/** A node's figures at one moment (node/stats.ts); `at` is when the serving node heard them. */
export interface Sample { node: string; at: number; connections: number; users: number; rssBytes: number; heapBytes: number; inPerS: number; outPerS: number }

/** A registered node: its lease and presence account, with its newest figures when heard. */
export interface NodeRow {
  id: string; alive: boolean; leaseExpiresAt: number; connections: number; users: number;
  rssBytes?: number; heapBytes?: number; inPerS?: number; outPerS?: number; sampledAt?: number;
}

export interface Hello { node: string; intervalMs: number; nodes: NodeRow[]; onlineCount: number; series: Record<string, Sample[]>; events: ClusterEvent[] }
export interface Stats { at: number; nodes: NodeRow[]; onlineCount: number; samples: Sample[] }

export interface OnlineUser { id: string; username: string; displayName: string; actions: string[] }
export interface Operator { id: string; username: string; displayName: string }
