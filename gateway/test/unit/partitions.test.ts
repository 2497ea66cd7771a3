/**
 * Unit: where partitioned presence puts users, actions and keys (src/presence/partitions.ts).
 * Every node must compute the same answers, so the hash is pinned to known values.
 */
import { describe, expect, it } from 'vitest';
import calculateSlot from 'cluster-key-slot';
import { formatWalk, parseWalk, partitionOf, partitionPrefixes, walkPages } from '../../src/presence/partitions.js';
import { CursorError } from '../../src/presence/types.js';

describe('presence partitions', () => {
  it('places ids by a pinned FNV-1a hash, everything in partition 0 when there is one', () => {
    // FNV-1a's published test vectors ("a", "foobar"), then values modulo 12.
    expect([partitionOf('a', 2 ** 32), partitionOf('foobar', 2 ** 32)]).toEqual([0xe40c292c, 0xbf9cf968]);
    expect([partitionOf('u0', 12), partitionOf('alice', 12), partitionOf('room:1', 12), partitionOf('', 12)]).toEqual([4, 11, 3, 1]);
    expect(partitionOf('anything', 1)).toBe(0);
    const spread = new Array(12).fill(0);
    for (let i = 0; i < 12_000; i++) spread[partitionOf(`user-${i}`, 12)] += 1;
    expect(Math.min(...spread)).toBeGreaterThan(850);
    expect(Math.max(...spread)).toBeLessThan(1150);
  });

  it('gives each partition a tag at evenly spaced slots: 4 per primary of a 3-primary cluster at 12', () => {
    const prefixes = partitionPrefixes('{gw}:', 12);
    expect(prefixes[0]).toMatch(/^\{gw:0(\.\d+)?\}:$/);
    const slots = prefixes.map((p) => calculateSlot(`${p}online_users`));
    slots.forEach((slot, p) => {
      expect(slot).toBeGreaterThanOrEqual(Math.floor((p * 16384) / 12));
      expect(slot).toBeLessThan(Math.floor(((p + 1) * 16384) / 12));
    });
    // redis-cli --cluster create splits the slots into equal ranges: 0-5460, 5461-10922, 10923-16383.
    const primaryOf = (slot: number) => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
    expect([0, 1, 2].map((m) => slots.filter((s) => primaryOf(s) === m).length)).toEqual([4, 4, 4]);
    expect(partitionPrefixes('a{gw}b:', 2).every((p) => /^a\{gw:\d(\.\d+)?\}b:$/.test(p))).toBe(true);
    expect(partitionPrefixes('{gw}:', 1)).toEqual(['{gw}:']);
    expect(() => partitionPrefixes('gw:', 4)).toThrow(/hash-tagged/);
  });

  it('walks pages over the partitions in turn, from any start, and refuses a forged cursor', async () => {
    const data = [['a', 'b', 'c'], [], ['d', 'e']];
    const read = async (p: number, cursor: string | undefined, want: number) => {
      const from = Number(cursor ?? 0);
      const items = data[p].slice(from, from + want);
      return from + want < data[p].length ? { items, cursor: String(from + want) } : { items };
    };
    const all: string[] = [];
    let at = parseWalk(undefined, 3);
    for (let pages = 0; pages < 10; pages++) {
      const page = await walkPages(at, 3, 2, read);
      expect(page.items.length).toBeLessThanOrEqual(2);
      all.push(...page.items);
      if (page.cursor === undefined) break;
      at = parseWalk(page.cursor, 3);
    }
    expect(all).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect((await walkPages(parseWalk(formatWalk({ start: 2, step: 0 }), 3), 3, 10, read)).items).toEqual(['d', 'e', 'a', 'b', 'c']);
    for (const forged of ['x', '3.0.0', '0.3.0', '1.1.', '1.1']) expect(() => parseWalk(forged, 3), forged).toThrow(CursorError);
  });
});
