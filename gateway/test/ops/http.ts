/**
 * Plain HTTP(S) GETs for health checks: a refused or reset connection is an answer too
 * (a draining node closes its listener), so `get` resolves with it instead of throwing.
 */
import http from 'node:http';
import https from 'node:https';

export interface Answer {
  /** HTTP status, or the socket error code (ECONNREFUSED, ECONNRESET, ...). */
  status: number | string;
  body: string;
}

export function get(url: string, opts: { agent?: http.Agent | false; ca?: string | Buffer; timeoutMs?: number } = {}): Promise<Answer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = lib.get(u, { agent: opts.agent ?? false, ca: opts.ca, timeout: opts.timeoutMs ?? 3000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ status: err.code ?? err.message, body: '' }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: err.code ?? err.message, body: '' }));
  });
}
