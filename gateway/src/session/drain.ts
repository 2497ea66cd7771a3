/**
 * Closing many sockets without a thundering herd: each socket gets a random moment within
 * `spreadMs`, grouped into 50 ms slots (one timer per slot, not per socket), so reconnects
 * reach the other nodes spread over the window instead of all at once.
 */
import { isOpen, type Connection } from '../connection.js';

const SLOT_MS = 50;

export function closeInBatches(conns: Connection[], code: number, spreadMs: number, random = Math.random): Promise<void> {
  const slots = new Map<number, Connection[]>();
  for (const c of conns) {
    const slot = spreadMs > 0 ? Math.floor((random() * spreadMs) / SLOT_MS) : 0;
    const list = slots.get(slot) ?? [];
    list.push(c);
    slots.set(slot, list);
  }
  const closeAll = (list: Connection[]) => {
    for (const c of list) if (isOpen(c)) c.socket?.close(code, 'service restart');
  };
  return Promise.all(
    [...slots].map(([slot, list]) => new Promise<void>((resolve) => setTimeout(() => {
      closeAll(list);
      resolve();
    }, slot * SLOT_MS))),
  ).then(() => undefined);
}
