/**
 * A webhook receiver for tests: a real HTTP server on a free loopback port that checks each
 * request's signature, records the events, and can be told to fail the next requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verify } from '../../src/events/signature.js';

export interface Receiver {
  url: string;
  /** Every item received, in arrival order (repeats included). */
  items: Array<Record<string, any>>;
  /** Requests received, and how many had a bad signature. */
  requests: number;
  badSignatures: number;
  /** Answer the next `n` requests with `status` (default 500). */
  failNext(n: number, status?: number): void;
  /** Hold every answer for `ms` (a slow receiver). */
  delay(ms: number): void;
  /** Items with this id were received (deduplicated view). */
  ids(): Set<string>;
  close(): Promise<void>;
}

export async function startReceiver(secret: string): Promise<Receiver> {
  let failing = 0;
  let failStatus = 500;
  let delayMs = 0;
  const r: Omit<Receiver, 'url' | 'close'> = {
    items: [], requests: 0, badSignatures: 0,
    failNext(n, status = 500) {
      failing = n;
      failStatus = status;
    },
    delay(ms) {
      delayMs = ms;
    },
    ids() {
      return new Set(r.items.map((i) => String(i.id)));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.requests += 1;
      const body = Buffer.concat(chunks).toString('utf8');
      const answer = (status: number) => setTimeout(() => res.writeHead(status).end(), delayMs);
      if (!verify(secret, body, req.headers['x-gateway-signature'] as string | undefined)) {
        r.badSignatures += 1;
        return answer(400);
      }
      if (failing > 0) {
        failing -= 1;
        return answer(failStatus);
      }
      r.items.push(...(JSON.parse(body) as { events: Array<Record<string, any>> }).events);
      answer(204);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...r,
    get items() { return r.items; },
    get requests() { return r.requests; },
    get badSignatures() { return r.badSignatures; },
    url: `http://127.0.0.1:${port}/hooks`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  } as Receiver;
}
