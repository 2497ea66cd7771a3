/**
 * examples/bot.mjs, the Node example of the client package, run as a child process against two
 * gateways: it joins, answers `!ping`, comes back by itself when its node is SIGKILLed (to the
 * next URL it was given), answers there, and exits 0 after COUNT answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestClient } from '../../../gateway/test/harness/client.js';
import { startCluster, type Cluster } from '../../../gateway/test/harness/cluster.js';
import { gatewayFixture } from '../../../gateway/test/harness/fixture.js';
import type { GatewayProcess } from '../../../gateway/test/harness/gateway.js';
import { waitFor } from '../../../gateway/test/harness/wait.js';

const BOT = fileURLToPath(new URL('../../../examples/bot.mjs', import.meta.url));
const fx = gatewayFixture({ stopSignal: 'SIGKILL' });
let cluster: Cluster;
let bot: ChildProcess | undefined;
const output: string[] = [];

beforeAll(async () => {
  cluster = await startCluster(fx, 'bot', { nodes: ['bot-a', 'bot-b'], env: { PRESENCE_GRACE_MS: '0' } });
});

afterAll(async () => {
  bot?.kill('SIGKILL');
  await cluster?.stop();
});

/** Publish `!ping` from `user` until the bot's answer to it arrives (the bot may still be joining). */
async function ping(user: TestClient): Promise<string> {
  const from = user.frames.length;
  const answer = await waitFor('the bot\'s answer', async () => {
    const found = user.frames.slice(from).find((f) => f.type === 'message' && /^@pinger pong/.test(f.data?.text ?? ''));
    if (found) return found.data.text as string;
    await user.request({ type: 'publish', action: 'lobby', data: { text: '!ping' } });
    return undefined;
  }, 15_000, 300);
  return answer;
}

it('answers, survives the death of its node, answers again, and exits after COUNT answers', async () => {
  const [a, b]: GatewayProcess[] = cluster.nodes;
  const token = await fx.mint('bot');
  bot = spawn(process.execPath, [BOT], {
    env: { PATH: process.env.PATH, GATEWAY_URLS: `${a.url},${b.url}`, BOT_TOKEN: token, ACTION: 'lobby', COUNT: '2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  bot.stdout!.on('data', (d) => output.push(String(d)));
  bot.stderr!.on('data', (d) => output.push(String(d)));
  const exited = new Promise<number | null>((resolve) => bot!.once('exit', (code) => resolve(code)));
  await waitFor('the bot joined lobby', () => output.join('').includes('joined lobby'), 15_000);

  const onB = await fx.connect(b, 'pinger');
  expect((await onB.request({ type: 'join', action: 'lobby' })).type).toBe('ack');
  expect(await ping(onB)).toContain('pong (node bot-a)');

  await a.kill('SIGKILL');
  await waitFor('the bot back on b', () => output.join('').includes('welcome from node bot-b'), 15_000);
  expect(await ping(onB)).toContain('pong (node bot-b)');
  expect(await exited).toBe(0);
  expect(output.join('')).toContain('re-joined lobby');
});
