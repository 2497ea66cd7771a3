/**
 * The live feed (GET /admin/api/feed, Server-Sent Events). The browser's EventSource sends the
 * session cookie and reconnects by itself (each reconnect starts with a fresh `hello`); `state`
 * reports live / reconnecting for the header.
 */
import type { ClusterEvent, Hello, Stats } from './types.js';

export interface FeedHandlers {
  hello(h: Hello): void;
  stats(s: Stats): void;
  events(e: ClusterEvent[]): void;
  state(live: boolean): void;
}

export function openFeed(h: FeedHandlers): { close(): void } {
  const source = new EventSource('/admin/api/feed');
  const on = <T>(name: string, handle: (data: T) => void) => source.addEventListener(name, (ev) => {
    try {
      handle(JSON.parse((ev as MessageEvent<string>).data) as T);
    } catch {
      // a line that does not parse is dropped: the next stats repaint everything
    }
  });
  on<Hello>('hello', (data) => {
    h.state(true);
    h.hello(data);
  });
  on<Stats>('stats', h.stats);
  on<ClusterEvent[]>('events', h.events);
  source.addEventListener('error', () => h.state(false));
  return { close: () => source.close() };
}
