/**
 * Time to fall back (fallback.ts, part c): the client package (RealtimeClient, plain `ws` as its
 * WebSocket) connect() → welcome straight to a node, with HTTP forced, and through a loopback
 * proxy that answers every upgrade 403 ("refused") or accepts it and never answers ("hanging":
 * the client's fallbackAfterMs, 3 s by default). Every connect is bounded by a deadline.
 */
import { createServer, request, type Server } from 'node:http';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { RealtimeClient, type WebSocketConstructor } from '../../client/src/index.js';
import { deadline } from './fallback-clients.js';
import { benchToken } from './targets.js';
import { sleep, type ServerProcess } from './procs.js';

/**
 * A proxy on loopback in front of the gateway: every plain request is passed through (the
 * event stream too, unbuffered); every WebSocket upgrade is answered 403 ('refuse') or accepted
 * and never answered ('hang').
 */
async function startProxy(target: number, mode: 'refuse' | 'hang'): Promise<{ port: number; close(): Promise<void> }> {
  const hung = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      res.flushHeaders();
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy()); // the client went away (or the answer is complete)
    req.pipe(up);
  });
  server.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => {});
    if (mode === 'refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    hung.add(socket);
    socket.on('close', () => hung.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      for (const s of hung) s.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** connect() → welcome of one RealtimeClient; its transport then; closed after. */
async function timeConnect(url: string, user: string, transports?: Array<'websocket' | 'http'>): Promise<{ ms: number; transport: string }> {
  const client = new RealtimeClient(url, { token: await benchToken(user), WebSocket: WebSocket as unknown as WebSocketConstructor, ...(transports ? { transports } : {}) });
  const started = performance.now();
  try {
    await deadline(`connect of ${user}`, 15_000, client.connect(), () => client.close());
    return { ms: performance.now() - started, transport: client.transport };
  } finally {
    client.close();
  }
}

/** connect() → welcome, ms, by case. */
export interface ConnectTimes { direct: number[]; forced: number[]; refused: number[]; hanging: number[] }

export async function connectTimes(node: ServerProcess, spec: { connectRuns: number; hangRuns: number }, notes: string[]): Promise<ConnectTimes> {
  const direct: number[] = [];
  const forced: number[] = [];
  const refused: number[] = [];
  const hanging: number[] = [];
  const check = (what: string, got: string[], want: string) => {
    const off = got.filter((t) => t !== want).length;
    if (off > 0) notes.push(`${what}: ${off} of ${got.length} clients ended on another transport than ${want}`);
  };
  const seq = async (url: string, prefix: string, into: number[], transports?: Array<'websocket' | 'http'>) => {
    const ends: string[] = [];
    for (let i = 0; i < spec.connectRuns; i += 1) {
      const r = await timeConnect(url, `${prefix}${i}`, transports);
      into.push(r.ms);
      ends.push(r.transport);
      await sleep(20);
    }
    return ends;
  };
  const nodeUrl = `ws://127.0.0.1:${node.port}/ws`;
  check('WebSocket straight to the node', await seq(nodeUrl, 'direct-', direct), 'websocket');
  check('HTTP forced', await seq(nodeUrl, 'forced-', forced, ['http']), 'http');
  const refusing = await startProxy(node.port, 'refuse');
  try {
    check('upgrade refused (403)', await seq(`ws://127.0.0.1:${refusing.port}/ws`, 'refused-', refused), 'http');
  } finally {
    await refusing.close();
  }
  const hangingProxy = await startProxy(node.port, 'hang');
  try {
    // All at once (each waits fallbackAfterMs), 50 ms apart.
    const runs = await Promise.all(Array.from({ length: spec.hangRuns }, async (_, i) => {
      await sleep(i * 50);
      return timeConnect(`ws://127.0.0.1:${hangingProxy.port}/ws`, `hanging-${i}`);
    }));
    hanging.push(...runs.map((r) => r.ms));
    check('upgrade hanging', runs.map((r) => r.transport), 'http');
  } finally {
    await hangingProxy.close();
  }
  return { direct, forced, refused, hanging };
}

