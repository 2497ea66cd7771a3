/**
 * Unit: the React bindings' shared joins (client/src/react/refs.ts) against a recording stand-in
 * for the client (only `channel(name).join/leave` are used): one join per channel however many
 * components, one leave after the last, and a refused join that ends its entry without letting
 * its components leave a channel a later component joined.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import type { RealtimeClient } from '../src/client.js';
import { acquire, release } from '../src/react/refs.js';

let calls: string[];
let answers: Array<{ resolve(): void; reject(err: Error): void }>;
let client: RealtimeClient;

beforeEach(() => {
  vi.useFakeTimers();
  calls = [];
  answers = [];
  client = {
    channel: (name: string) => ({
      join: () => {
        calls.push(`join ${name}`);
        return new Promise<void>((resolve, reject) => answers.push({ resolve, reject }));
      },
      leave: () => {
        calls.push(`leave ${name}`);
        return Promise.resolve();
      },
    }),
  } as unknown as RealtimeClient;
});

afterEach(() => vi.useRealTimers());

const noop = () => {};

it('joins once for two components and leaves once, after the last one went', async () => {
  const a = acquire(client, 'news', undefined, noop);
  const b = acquire(client, 'news', undefined, noop);
  answers[0].resolve();
  release(client, 'news', a);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news']);
  release(client, 'news', b);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news', 'leave news']);
});

it('keeps the join through an unmount and mount in the same task (StrictMode)', async () => {
  const first = acquire(client, 'news', undefined, noop);
  release(client, 'news', first);
  const second = acquire(client, 'news', undefined, noop);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news']);
  release(client, 'news', second);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news', 'leave news']);
});

it('does not leave a channel a later component joined when a component of a refused join unmounts', async () => {
  const refused: Error[] = [];
  const early = acquire(client, 'news', undefined, (err) => refused.push(err));
  answers[0].reject(new Error('rate_limited'));
  await vi.runAllTimersAsync();
  expect(refused).toHaveLength(1);
  const later = acquire(client, 'news', undefined, noop);
  answers[1].resolve();
  release(client, 'news', early);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news', 'join news']);
  release(client, 'news', later);
  await vi.runAllTimersAsync();
  expect(calls).toEqual(['join news', 'join news', 'leave news']);
});
