/**
 * Read-only questions to every node of the cluster (the operator page: which actions a user's
 * connections have joined; each node knows only its own connections). `userActions` sends the
 * question on `$query`, answers it for this node, and gathers the answer of every other
 * registered node (presence leases) from `$query-reply` for at most `timeoutMs`; `missing` names
 * the nodes that did not answer. Nothing is changed anywhere, so asking again is always safe.
 */
import { isOpen } from '../connection.js';
import type { Logger } from '../log.js';
import type { PresenceStore } from '../presence/types.js';
import type { ClusterQuestion, SystemMessage } from './cluster-messages.js';
import type { Hub } from './hub.js';

/** Actions listed per user and node at most (a connection may hold MAX_ACTIONS_PER_CONNECTION). */
const MAX_ACTIONS_LISTED = 100;

export interface UserActions {
  /** User id -> the actions their open connections have joined, on the nodes that answered (sorted, at most 100). */
  actions: Record<string, string[]>;
  nodes: string[];
  missing: string[];
}

interface Waiting { answers: Array<Record<string, string[]>>; expected: Set<string>; nodes: string[]; done: () => void }

export class ClusterQueries {
  private readonly waiting = new Map<string, Waiting>();
  private counter = 0;

  constructor(
    private readonly d: {
      hub: Pick<Hub, 'onSystem' | 'toNodes' | 'all'>; presence: Pick<PresenceStore, 'nodes'>; nodeId: string; log: Logger; timeoutMs?: number;
    },
  ) {}

  async start(): Promise<void> {
    await this.d.hub.onSystem('$query', (msg) => this.onQuestion(msg));
    await this.d.hub.onSystem('$query-reply', (msg) => this.onAnswer(msg));
  }

  async userActions(userIds: string[]): Promise<UserActions> {
    const q: ClusterQuestion = { op: 'user-actions', userIds: userIds.slice(0, 1000) };
    const id = `${this.d.nodeId}:${(this.counter += 1)}`;
    const others = (await this.d.presence.nodes()).map((n) => n.id).filter((n) => n !== this.d.nodeId);
    const wait: Waiting = { answers: [this.answer(q)], expected: new Set(others), nodes: [this.d.nodeId], done: () => {} };
    const answered = new Promise<void>((resolve) => (wait.done = resolve));
    this.waiting.set(id, wait);
    let timer: NodeJS.Timeout | undefined;
    try {
      if (others.length > 0) {
        await this.d.hub.toNodes('$query', { id, q });
        await Promise.race([answered, new Promise<void>((r) => (timer = setTimeout(r, this.d.timeoutMs ?? 2000)))]);
      }
    } finally {
      clearTimeout(timer);
      this.waiting.delete(id);
    }
    return { actions: merge(wait.answers), nodes: wait.nodes, missing: [...wait.expected] };
  }

  /** This node's answer: the actions of each asked user's open connections here. */
  private answer(q: ClusterQuestion): Record<string, string[]> {
    const asked = new Set(q.userIds);
    const found = new Map<string, Set<string>>();
    for (const c of this.d.hub.all()) {
      if (!asked.has(c.userId) || !isOpen(c)) continue;
      const set = found.get(c.userId) ?? new Set<string>();
      found.set(c.userId, set);
      for (const a of c.actions) if (set.size < MAX_ACTIONS_LISTED) set.add(a);
    }
    return Object.fromEntries([...found].map(([user, set]) => [user, [...set].sort()]));
  }

  private onQuestion({ id, q }: SystemMessage<'$query'>): void {
    this.d.hub.toNodes('$query-reply', { id, node: this.d.nodeId, actions: this.answer(q) })
      .catch((err) => this.d.log.warn({ err: (err as Error).message }, 'query reply not sent'));
  }

  private onAnswer(reply: SystemMessage<'$query-reply'>): void {
    const wait = this.waiting.get(reply.id);
    if (!wait || !wait.expected.delete(reply.node)) return;
    wait.answers.push(reply.actions);
    wait.nodes.push(reply.node);
    if (wait.expected.size === 0) wait.done();
  }
}

function merge(answers: Array<Record<string, string[]>>): Record<string, string[]> {
  const all = new Map<string, Set<string>>();
  for (const answer of answers) {
    for (const [user, actions] of Object.entries(answer)) {
      const set = all.get(user) ?? new Set<string>();
      all.set(user, set);
      for (const a of actions) if (set.size < MAX_ACTIONS_LISTED) set.add(a);
    }
  }
  return Object.fromEntries([...all].map(([user, set]) => [user, [...set].sort()]));
}
