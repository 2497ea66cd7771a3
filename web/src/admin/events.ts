/**
 * The tail of the event stream: online, offline, joined and left as the cluster records them,
 * newest first, at most MAX rows. Entries are keyed by their stream id, so one delivered twice
 * (the feed reconnected) shows once.
 */
import { byId, clock, el } from './dom.js';
import type { ClusterEvent } from './types.js';

const MAX = 100;

export class EventTail {
  private readonly seen = new Set<string>();

  /** Show `events` (oldest first); returns whether any was new. */
  add(events: ClusterEvent[]): boolean {
    const list = byId('events');
    const fresh = events.filter((e) => !this.seen.has(e.id));
    for (const e of fresh) {
      this.seen.add(e.id);
      const what = e.action ? `${e.type} ${e.action}` : e.type;
      list.prepend(el('li', { className: `event ${e.type}`, attrs: { 'data-id': e.id, 'data-type': e.type, 'data-user-id': e.userId } },
        el('time', { text: clock(e.ts) }), el('span', { className: 'what', text: what }), el('span', { className: 'name', text: e.username }),
        el('span', { className: 'handle', text: `${e.reason} · ${e.node}` })));
    }
    while (list.children.length > MAX) list.lastElementChild?.remove();
    if (this.seen.size > MAX * 4) this.seen.clear(); // bounded; an old id seen again would at worst show twice
    return fresh.length > 0;
  }
}
