/** The tours message (web/src/tours-data.ts): read defensively, and believed only from the backend. */
import { describe, expect, it } from 'vitest';
import type { ActionMessage } from '../../shared/protocol.js';
import { parseTours, toursState, TOURS_ACTION } from '../src/tours-data.js';

const state = { tours: [{ id: 'alps', name: 'Alps trek', seats: 3, capacity: 12 }], at: 5 };
const msg = (over: Partial<ActionMessage>): ActionMessage => ({ type: 'message', action: TOURS_ACTION, from: { system: true }, data: state, ts: 1, ...over });

describe('the tours message', () => {
  it('reads the tours message defensively', () => {
    expect(parseTours({ tours: [{ id: 'a', seats: 2, capacity: 5 }] })).toEqual({ tours: [{ id: 'a', name: 'a', seats: 2, capacity: 5 }] });
    for (const bad of [null, 3, {}, { tours: 'x' }, { tours: [{ id: 'a', seats: -1 }] }, { tours: [{ seats: 1 }] }]) expect(parseTours(bad)).toBeUndefined();
  });

  it('believes only the backend (from.system) on live:tours', () => {
    expect(TOURS_ACTION).toBe('live:tours');
    expect(toursState(msg({}))).toEqual(state);
    expect(toursState(msg({ from: { userId: 'u2', username: 'mallory', displayName: 'System' } }))).toBeUndefined();
    expect(toursState(msg({ from: { system: 'yes' } as never }))).toBeUndefined();
    expect(toursState(msg({ action: 'tours' }))).toBeUndefined();
    expect(toursState(msg({ data: { tours: 'sold out' } }))).toBeUndefined();
  });
});
