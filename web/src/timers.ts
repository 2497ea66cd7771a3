/**
 * The timer functions the client and its parts use, injected so they run in a browser, in
 * Node and under fake timers. Its own module so that client.ts and requests.ts both import it
 * without importing each other.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}
