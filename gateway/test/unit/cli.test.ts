/**
 * The command-line tools' pure parsing (the CLIs themselves run end to end in
 * integration/cli.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MAX_TTL_S, parseCount, parseTtl, seedDisplayName, UsageError } from '../../src/cli/parse.js';

describe('parseTtl', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseTtl('30s')).toBe(30);
    expect(parseTtl('15m')).toBe(900);
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('7d')).toBe(604_800);
    expect(parseTtl('3600')).toBe(3600);
    expect(parseTtl(' 2h ')).toBe(7200);
    expect(parseTtl('365d')).toBe(MAX_TTL_S);
  });

  it('refuses zero, negatives, fractions, unknown units and more than a year', () => {
    for (const bad of ['0', '0s', '-5', '1.5h', '1w', 'h', '', '1 h', '366d', '99999999999']) {
      expect(() => parseTtl(bad), bad).toThrow(UsageError);
    }
  });
});

describe('parseCount and seedDisplayName', () => {
  it('accepts whole numbers in range only', () => {
    expect(parseCount('100000', 'count', 1, 1_000_000)).toBe(100_000);
    for (const bad of ['0', '-1', '2.5', 'ten', '', '1000001']) {
      expect(() => parseCount(bad, 'count', 1, 1_000_000), bad).toThrow(/count must be/);
    }
  });

  it('capitalises the prefix', () => {
    expect(seedDisplayName('user', 7)).toBe('User 7');
    expect(seedDisplayName('bench-', 1)).toBe('Bench- 1');
  });
});
