/**
 * Where partitioned presence (./partitioned.ts) puts things: which partition owns a user or an
 * action, which key prefix each partition uses on Redis Cluster, and the cursors that walk
 * every partition. Pure functions; every node must compute the same answers, so none of
 * them may change without a full restart of the cluster (docs/SCALING.md).
 */
import calculateSlot from 'cluster-key-slot';
import { CursorError } from './types.js';

const SLOTS = 16384;

/**
 * The partition of a user id or an action name: FNV-1a (32 bits) over its UTF-16 code units,
 * modulo `count`. Stable across nodes, versions and platforms.
 */
export function partitionOf(id: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

/**
 * The key prefix of each of `count` partitions, derived from a hash-tagged cluster prefix
 * (`{gw}:` gives `{gw:0}:`, `{gw:1.3}:`, ...). Partition p's tag is the first candidate
 * `<tag>:<p>`, `<tag>:<p>.1`, `<tag>:<p>.2`, ... whose slot lies in the p-th of `count` equal
 * slot ranges: the partitions sit at evenly spaced slots, so a cluster whose primaries own
 * equal contiguous ranges (what `redis-cli --cluster create` makes) gets an even share of
 * them, instead of the clumps that plain hashing of a few tags gives.
 * With `count` 1 the prefix is returned unchanged.
 */
export function partitionPrefixes(prefix: string, count: number): string[] {
  if (count <= 1) return [prefix];
  const open = prefix.indexOf('{');
  const close = prefix.indexOf('}', open + 1);
  if (open < 0 || close <= open + 1) throw new TypeError(`partitioned presence needs a hash-tagged prefix such as {gw}: (got "${prefix}")`);
  const tag = prefix.slice(open + 1, close);
  const out: string[] = [];
  for (let p = 0; p < count; p++) {
    const from = Math.floor((p * SLOTS) / count);
    const to = Math.floor(((p + 1) * SLOTS) / count);
    for (let n = 0; ; n++) {
      const candidate = n === 0 ? `${tag}:${p}` : `${tag}:${p}.${n}`;
      const slot = calculateSlot(candidate);
      if (slot >= from && slot < to) {
        out.push(`${prefix.slice(0, open + 1)}${candidate}${prefix.slice(close)}`);
        break;
      }
    }
  }
  return out;
}

/**
 * A position in a walk over all partitions: the walk starts at partition `start` and visits
 * (start + step) % count for step = 0 .. count-1; `inner` is that partition's own cursor
 * (undefined: its beginning). Written `<start>.<step>.<inner>`.
 */
export interface WalkCursor { start: number; step: number; inner?: string }

export function formatWalk(at: WalkCursor): string {
  return `${at.start}.${at.step}.${at.inner ?? '0'}`;
}

/** Parses a walk cursor; no cursor (or '0') starts at partition 0. CursorError for anything this store did not hand out. */
export function parseWalk(cursor: string | undefined, count: number): WalkCursor {
  if (cursor === undefined || cursor === '0') return { start: 0, step: 0 };
  const m = /^(\d{1,4})\.(\d{1,4})\.(.{1,64})$/.exec(cursor);
  if (!m || Number(m[1]) >= count || Number(m[2]) >= count) throw new CursorError(`invalid presence cursor: ${cursor.slice(0, 40)}`);
  return { start: Number(m[1]), step: Number(m[2]), inner: m[3] };
}

/**
 * Fills a page of at most `limit` items by walking the partitions from `at`: `read(p, cursor,
 * want)` reads one page of partition p. Returns the items and the cursor of the rest (none
 * when the walk is done). At most `count + 4` reads: a page may come back short (SCAN pages
 * can be), with a cursor, rather than reading on.
 */
export async function walkPages<T>(
  at: WalkCursor, count: number, limit: number,
  read: (p: number, cursor: string | undefined, want: number) => Promise<{ items: T[]; cursor?: string }>,
): Promise<{ items: T[]; cursor?: string }> {
  const items: T[] = [];
  let { step, inner } = at;
  for (let reads = 0; step < count; reads++) {
    if (reads === count + 4) return { items, cursor: formatWalk({ start: at.start, step, inner }) };
    const page = await read((at.start + step) % count, inner, limit - items.length);
    items.push(...page.items);
    if (page.cursor !== undefined) {
      if (items.length >= limit) return { items, cursor: formatWalk({ start: at.start, step, inner: page.cursor }) };
      inner = page.cursor;
      continue;
    }
    step += 1;
    inner = undefined;
    if (items.length >= limit && step < count) return { items, cursor: formatWalk({ start: at.start, step }) };
  }
  return { items };
}
