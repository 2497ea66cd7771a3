/**
 * Store writes issued in the same turn of the event loop go to Redis as one script call: in a
 * storm that is one round trip, one write and one published event for a whole batch instead of
 * one each. The call waits for `setImmediate` (after the I/O the loop is handling now, never
 * longer), or goes at once when the store runs any other script (`flushNow`), so the order in
 * which the gateway issued its writes is the order Redis applies them: a batch holds items of
 * one `key` only, and an item of another key sends the waiting batch first.
 *
 * Contract, per caller: the result of a call of its own (the script applies items in order).
 * A failed call fails every caller of its batch.
 */

/** Most items in one script call: bounds the script's run time (Redis is single-threaded). */
export const TURN_BATCH_MAX = 256;

interface Waiting<I, R> { item: I; resolve: (r: R) => void; reject: (err: unknown) => void }

export class TurnBatcher<I, R> {
  private waiting: Array<Waiting<I, R>> = [];
  private key = '';
  private scheduled = false;

  /** `send(key, items)`: one script call for `items`, results in the same order. */
  constructor(private readonly send: (key: string, items: I[]) => Promise<R[]>) {}

  add(key: string, item: I): Promise<R> {
    if (this.waiting.length > 0 && key !== this.key) this.flushNow();
    this.key = key;
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (this.waiting.length >= TURN_BATCH_MAX) return this.flushNow();
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flushNow();
      });
    });
  }

  /** Issue the waiting batch now (synchronously: before whatever the caller issues next). */
  flushNow(): void {
    if (this.waiting.length === 0) return;
    const batch = this.waiting;
    this.waiting = [];
    this.send(this.key, batch.map((w) => w.item)).then(
      (results) => batch.forEach((w, i) => w.resolve(results[i])),
      (err) => batch.forEach((w) => w.reject(err)),
    );
  }
}
