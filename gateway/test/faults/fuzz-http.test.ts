/**
 * Bad HTTP to the API: oversized and malformed bodies, wrong content types, bad query strings,
 * unknown routes and methods, garbage that is not HTTP at all, and a seeded random mix
 * (FUZZ_SEED replays it). Every answer is a 4xx (or, for bytes that are not HTTP, a closed
 * connection): never a 5xx, and the gateway stays up.
 */
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { alive, FAULTS_ENV, gatewayFixture } from '../harness/fixture.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { mulberry32 } from './fuzz-frames.js';

const fx = gatewayFixture({ env: FAULTS_ENV });
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const RANDOM_REQUESTS = 400;
let cluster: Cluster;
let gw: GatewayProcess;
let bearer: string;

beforeAll(async () => {
  console.log(`http fuzz seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  cluster = await startCluster(fx, 'httpfuzz', { nodes: 1, env: { API_KEYS: 'fuzz-api-key-0123456789', LOG_LEVEL: 'info' } });
  [gw] = cluster.nodes;
  bearer = `Bearer ${await fx.mint('http-fuzzer')}`;
});

afterAll(() => cluster?.stop());

/** Status of one request, or `reset` when the server closed the connection without answering. */
function http(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<number | 'reset'> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: gw.port, method, path, headers, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve('reset'));
    req.end(body);
  });
}

/** Write raw bytes; resolve with the status line's code, or 0 when the server closed without one. */
function rawHttp(bytes: Buffer | string): Promise<number> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port: gw.port });
    let got = '';
    const done = () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? 0));
    s.setTimeout(3000, () => s.destroy());
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (/\r\n\r\n/.test(got)) s.destroy();
    });
    s.on('close', done);
    s.on('error', () => {});
    s.end(bytes);
  });
}

const json = { 'content-type': 'application/json' };
const is4xx = (s: number | 'reset') => typeof s === 'number' && s >= 400 && s < 500;

describe('POST /api/login', () => {
  it('answers oversized, mistyped and malformed bodies with 4xx', async () => {
    expect(await http('POST', '/api/login', json, Buffer.alloc(1024 * 1024, 0x61))).toSatisfy((s) => s === 413 || s === 'reset');
    expect(await http('POST', '/api/login', json, `{"username":"${'a'.repeat(70_000)}","password":"x"}`)).toSatisfy((s) => s === 413 || s === 'reset');
    expect(await http('POST', '/api/login', {}, '{"username":"a","password":"b"}')).toBe(415);
    expect(await http('POST', '/api/login', { 'content-type': 'text/plain' }, '{"username":"a","password":"b"}')).toBe(415);
    expect(await http('POST', '/api/login', { 'content-type': 'multipart/form-data; boundary=x' }, '--x--')).toBe(415);
    const bodies = ['', '{', 'null', '[]', '"str"', '{"username":1,"password":2}', `{"username":"${'u'.repeat(65)}","password":"p"}`,
      '{"__proto__":{"username":"admin","password":"x"}}', '{"username":"a"}', Buffer.from([0xff, 0xfe, 0x00])];
    for (const body of bodies) expect(await http('POST', '/api/login', json, body), String(body).slice(0, 40)).toBe(400);
    // Well-formed but wrong: 401, then the sign-in rate limit (per IP) answers 429.
    const statuses: Array<number | 'reset'> = [];
    for (let i = 0; i < 12; i += 1) statuses.push(await http('POST', '/api/login', json, '{"username":"nobody","password":"wrong"}'));
    expect(statuses[0]).toBe(401);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.every(is4xx)).toBe(true);
  });
});

describe('POST /api/refresh', () => {
  it('refuses a missing, malformed or foreign bearer with 401', async () => {
    for (const authorization of ['', 'Bearer', 'Bearer x.y.z', 'Basic YTpi', `Bearer ${'a'.repeat(10_000)}`]) {
      expect(await http('POST', '/api/refresh', authorization ? { authorization } : {}), authorization.slice(0, 20)).toBe(401);
    }
    expect(await http('POST', '/api/refresh', { authorization: bearer }, Buffer.alloc(100_000))).toSatisfy((s) => s === 200 || s === 413 || s === 'reset');
  });
});

describe('GET /api/users/search', () => {
  it('answers bad tokens with 401 and bad query strings with 400, never 500', async () => {
    expect(await http('GET', '/api/users/search?q=a')).toBe(401);
    expect(await http('GET', '/api/users/search?q=a', { authorization: 'Bearer not.a.jwt' })).toBe(401);
    expect(await http('GET', '/api/users/search?q=a', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` })).toBe(401);
    for (const q of ['limit=abc', 'limit=0', 'limit=101', 'limit=-1', 'limit=1.5', 'limit=1e3', `q=${'a'.repeat(101)}`]) {
      expect(await http('GET', `/api/users/search?${q}`, { authorization: bearer }), q).toBe(400);
    }
    for (const q of ['q=%zz', 'q=%', 'q[]=a&q[]=b', 'q=a&q=b', 'q=%00%ff', 'q=__proto__', '&&&=&=', `q=${encodeURIComponent('\u{1F600}\u0000')}`]) {
      expect(await http('GET', `/api/users/search?${q}`, { authorization: bearer }), q).toBe(200);
    }
  });
});

describe('routes and methods', () => {
  it('answers unknown routes, bad methods and path tricks with 4xx', async () => {
    const cases: Array<[string, string]> = [
      ['GET', '/nope'], ['GET', '/api'], ['GET', '/api/login'], ['POST', '/healthz'], ['PUT', '/api/login'], ['DELETE', '/api/me'],
      ['OPTIONS', '/api/users/search'], ['TRACE', '/'], ['GET', '/../../etc/passwd'], ['GET', '/%2e%2e/%2e%2e/etc/passwd'],
      ['GET', '/index.html/..%2f..%2fpackage.json'], ['GET', `/${'a'.repeat(4000)}`], ['POST', '/api/publish'], ['GET', '/ws'],
    ];
    for (const [method, path] of cases) expect(await http(method, path, { authorization: bearer }), `${method} ${path.slice(0, 40)}`).toSatisfy(is4xx);
  });

  it('closes or refuses bytes that are not HTTP, without a 5xx', async () => {
    const garbage = [
      'GARBAGE\r\n\r\n', 'GET\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', `GET /healthz HTTP/1.1\r\nX-Big: ${'h'.repeat(100_000)}\r\n\r\n`,
      'POST /api/login HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\nxx\r\n0\r\n\r\n',
      'POST /api/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nffffffffffffffff\r\n',
      'POST /api/login HTTP/1.1\r\nContent-Length: -1\r\n\r\n', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256)),
      'GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ];
    for (const g of garbage) {
      const status = await rawHttp(g);
      expect(status, String(g).slice(0, 40)).toSatisfy((s: number) => s === 0 || (s >= 400 && s < 500));
    }
    expect(await alive(gw)).toBe(true);
  });
});

describe('a seeded random mix', () => {
  it(`answers ${RANDOM_REQUESTS} random requests without a single 5xx`, async () => {
    const r = mulberry32(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
    const routes: Array<[string, string]> = [
      ['POST', '/api/login'], ['POST', '/api/refresh'], ['GET', '/api/users/search'], ['GET', '/api/me'], ['PATCH', '/api/me'], ['PUT', '/api/me/avatar'],
      ['GET', '/api/users/x/avatar'], ['POST', '/api/publish'], ['GET', '/healthz'], ['GET', '/readyz'], ['GET', '/'], ['GET', '/ws'],
    ];
    const statuses: Record<string, number> = {};
    const resets: string[] = [];
    for (let i = 0; i < RANDOM_REQUESTS; i += 1) {
      const [routeMethod, routePath] = pick(routes);
      const path = `${routePath}${r() < 0.7 ? '' : pick(['/', '/x', '%00', '/..'])}${r() < 0.5 ? `?${encodeURIComponent(bytes(Math.floor(r() * 40)).toString('latin1'))}=${pick(['1', '', '%', 'a&b=c'])}` : ''}`;
      const headers: Record<string, string> = {};
      if (r() < 0.6) headers['content-type'] = pick(['application/json', 'text/plain', 'application/json; charset=latin1', 'image/png', 'x/y']);
      if (r() < 0.6) headers.authorization = pick([bearer, 'Bearer fuzz-api-key-0123456789', 'Bearer', 'Bearer a.b.c', 'Basic x']);
      const body = r() < 0.2 ? JSON.stringify({ action: pick(['a', '', 'bad name']), data: pick([1, null, 'x'.repeat(70_000)]), username: 'u', password: 'p' }) : bytes(Math.floor(r() * 2000));
      const method = r() < 0.7 ? routeMethod : pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
      const status = await http(method, path, headers, method === 'GET' || method === 'HEAD' ? undefined : body);
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status === 'reset') resets.push(`${method} ${path.slice(0, 60)} [${Object.keys(headers).join(', ')}] ${body.length} bytes`);
    }
    console.log(`random HTTP: ${RANDOM_REQUESTS} requests, statuses ${JSON.stringify(statuses)}; resets: ${resets.slice(0, 10).join(' | ')}`);
    for (const s of Object.keys(statuses)) expect(s === 'reset' || Number(s) < 500, `status ${s}`).toBe(true);
    expect(await alive(gw)).toBe(true);
    expect(gw.logs.filter((l) => /"level":(50|60)/.test(l))).toEqual([]);
  });
});
