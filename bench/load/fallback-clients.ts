/**
 * The raw subscribers of the fallback bench (fallback.ts): `ws` sockets, or node:http event
 * streams whose frames are POSTed, each from its own loopback address (127.x.y.z), as the load
 * agents do, so the per-address limits (the fallback's POSTs) see many clients, not one. Each
 * counts the `message` frames it gets; opening is bounded in time (`deadline`).
 */
import { request, type IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { benchToken } from './targets.js';

export type Transport = 'ws' | 'http';

export const ACTION = 'fb';
const MESSAGE = '{"type":"message"';

let addresses = 0;
/** A loopback source address of its own for each raw client (Linux routes all of 127/8 to lo). */
function sourceAddress(): string {
  addresses += 1;
  return `127.${1 + (Math.floor(addresses / 62_500) % 250)}.${1 + (Math.floor(addresses / 250) % 250)}.${1 + (addresses % 250)}`;
}

/** One raw subscriber: counts the `message` frames it gets. */
export interface Sub {
  got: number;
  close(): void;
}

export function deadline<T>(what: string, ms: number, p: Promise<T>, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what}: no answer in ${ms} ms`));
    }, ms);
    p.then((v) => (clearTimeout(timer), resolve(v)), (e) => (clearTimeout(timer), reject(e)));
  });
}

/** A `ws` socket: welcome, then `watch []` and the join, resolved at the join's ack. */
async function openWs(port: number, user: string, join: boolean): Promise<Sub> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, ['bearer', await benchToken(user)], { localAddress: sourceAddress(), perMessageDeflate: false });
  const sub: Sub = { got: 0, close: () => ws.terminate() };
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`ws closed ${code} before its join was answered`)));
    ws.on('message', (data) => {
      const text = String(data);
      if (text.startsWith(MESSAGE)) sub.got += 1;
      else if (text.startsWith('{"type":"welcome"')) {
        ws.send('{"type":"watch","users":[]}');
        if (join) ws.send(JSON.stringify({ type: 'join', action: ACTION, id: 'j' }));
        else resolve();
      } else if (text.startsWith('{"type":"ack"') && text.includes('"id":"j"')) resolve();
      else if (text.startsWith('{"type":"error"') && text.includes('"id":"j"')) reject(new Error(`join refused: ${text}`));
    });
  });
  await deadline('ws subscriber', 30_000, ready, () => ws.terminate());
  ws.removeAllListeners('error');
  ws.removeAllListeners('close');
  ws.on('error', () => {});
  return sub;
}

/** A POST of the fallback from `address` (a connection of its own: the address is the client's). */
function post(port: number, path: string, id: string, key: string, body: string, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST', localAddress: address, agent: false, timeout: 10_000,
      headers: { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-stream-id': id, 'x-stream-key': key },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** An event stream (GET /http/stream) with its frames POSTed: welcome, then `watch []` and the join in one POST. */
async function openStream(port: number, user: string, join: boolean): Promise<Sub> {
  const address = sourceAddress();
  const auth = `Bearer ${await benchToken(user)}`;
  let res: IncomingMessage | undefined;
  const req = request({ host: '127.0.0.1', port, path: '/http/stream', headers: { authorization: auth }, localAddress: address, agent: false });
  const sub: Sub = { got: 0, close: () => req.destroy() };
  const ready = new Promise<void>((resolve, reject) => {
    let session: { id: string; key: string } | undefined;
    req.on('error', reject);
    req.on('response', (r) => {
      res = r;
      if (r.statusCode !== 200) return reject(new Error(`stream refused: HTTP ${r.statusCode}`));
      r.setEncoding('utf8');
      let buffered = '';
      r.on('data', (chunk: string) => {
        buffered += chunk;
        let at = buffered.indexOf('\n\n');
        if (at < 0) return;
        let from = 0;
        for (; at >= 0; at = buffered.indexOf('\n\n', from)) {
          // `data: ` is 6 characters: the frame starts at from + 6.
          if (buffered.startsWith(MESSAGE, from + 6)) sub.got += 1;
          else onEvent(buffered.slice(from, at));
          from = at + 2;
        }
        buffered = buffered.slice(from);
      });
      r.on('end', () => reject(new Error('stream ended before its join was answered')));
    });
    const onEvent = (block: string) => {
      if (block.startsWith('event: session')) {
        session = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { id: string; key: string };
        return;
      }
      if (!block.startsWith('data: ') || !session) return;
      const text = block.slice(6);
      if (text.startsWith('{"type":"welcome"')) {
        const frames = ['{"type":"watch","users":[]}', ...(join ? [JSON.stringify({ type: 'join', action: ACTION, id: 'j' })] : [])];
        post(port, '/http/send', session.id, session.key, frames.join('\n'), address).then((status) => {
          if (status !== 204) reject(new Error(`frames answered HTTP ${status}`));
          else if (!join) resolve();
        }, reject);
      } else if (text.startsWith('{"type":"ack"') && text.includes('"id":"j"')) resolve();
      else if (text.startsWith('{"type":"error"') && text.includes('"id":"j"')) reject(new Error(`join refused: ${text}`));
    };
  });
  req.end();
  await deadline('stream subscriber', 30_000, ready, () => req.destroy());
  req.removeAllListeners('error');
  req.on('error', () => {});
  res?.removeAllListeners('end');
  res?.on('error', () => {});
  return sub;
}

const opener = (t: Transport) => (t === 'ws' ? openWs : openStream);

/** `n` raw clients of `transport`, `concurrency` at a time; throws on the first that fails (closing the others). */
export async function openMany(t: Transport, port: number, n: number, prefix: string, join: boolean, concurrency = 100): Promise<Sub[]> {
  const subs: Sub[] = [];
  let next = 0;
  let failed: Error | undefined;
  const worker = async () => {
    while (next < n && !failed) {
      const i = next++;
      try {
        subs.push(await opener(t)(port, `${prefix}${i}`, join));
      } catch (err) {
        failed ??= err as Error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  if (failed) {
    closeAll(subs);
    throw new Error(`${t}: ${subs.length} of ${n} clients opened; first failure: ${failed.message}`);
  }
  return subs;
}

export const closeAll = (subs: Sub[]) => {
  for (const s of subs) s.close();
};
