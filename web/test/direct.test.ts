/** Direct conversation names (web/src/direct.ts): both users name the same action. */
import { describe, expect, it } from 'vitest';
import { ACTION_NAME } from '../../shared/protocol.js';
import { directAction, directPeer } from '../src/direct.js';

const A = '7d3c1f1e-0b7a-4f4e-9d8e-1f2a3b4c5d6e';
const B = '1a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d';

describe('direct conversations', () => {
  it('names dm#<ids sorted>, the same from both sides, and a valid action name', () => {
    expect(directAction(A, B)).toBe(`dm#${B},${A}`);
    expect(directAction(B, A)).toBe(directAction(A, B));
    expect(ACTION_NAME.test(directAction(A, B))).toBe(true);
  });

  it('finds the other user of a conversation of mine, and nothing else', () => {
    expect(directPeer(directAction(A, B), A)).toBe(B);
    expect(directPeer(directAction(A, B), B)).toBe(A);
    expect(directPeer(directAction(A, B), 'someone-else')).toBeUndefined();
    expect(directPeer(`dm#${A},${B}`, A)).toBeUndefined(); // not sorted: not the page's name for it
    expect(directPeer('lobby', A)).toBeUndefined();
    expect(directPeer(`team#${A},${B}`, A)).toBeUndefined();
  });
});
