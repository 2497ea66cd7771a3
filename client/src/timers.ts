/**
 * The timer functions the client and its parts use, injected so they run in a browser, in
 * Node and under fake timers. Its own module so that client.ts and requests.ts both import it
 * without importing each other.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** One-shot timers by name: setting a name again replaces its timer; a fired timer is gone. */
export class NamedTimers<Name extends string> {
  private readonly handles = new Map<Name, unknown>();

  constructor(private readonly timers: Timers) {}

  set(name: Name, ms: number, fn: () => void): void {
    this.clear(name);
    this.handles.set(name, this.timers.setTimeout(() => {
      this.handles.delete(name);
      fn();
    }, ms));
  }

  clear(name: Name): void {
    if (!this.handles.has(name)) return;
    this.timers.clearTimeout(this.handles.get(name));
    this.handles.delete(name);
  }

  has(name: Name): boolean {
    return this.handles.has(name);
  }
}

/** `p`'s outcome, or undefined when it takes longer than `ms`. */
export function settleWithin<T>(timers: Timers, ms: number, p: Promise<T>): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = timers.setTimeout(() => resolve(undefined), ms);
    p.then((v) => resolve(v), reject).finally(() => timers.clearTimeout(timer));
  });
}
