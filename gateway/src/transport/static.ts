/**
 * Serves the built browser page (dist/web) from memory. Files are read once at start;
 * every response carries an ETag and `no-cache`, so browsers revalidate cheaply (304)
 * and never run a stale client after a deploy.
 *
 * Every response also carries the page's security headers: a Content-Security-Policy that
 * allows only this origin's scripts, styles, images (and blob:/data: pictures for the profile
 * editor's preview) and connections (the WebSocket included), and forbids framing; no
 * referrer leaves the page. Source maps are built for developers but never served.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import type { ApiReply } from './http.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.map': 'application/json',
};

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

function readTree(dir: string, into: Map<string, { body: Buffer; type: string; etag: string }>, base = dir): void {
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) readTree(full, into, base);
    else {
      if (name.endsWith('.map')) continue; // for developers, not for the public
      const body = readFileSync(full);
      const etag = `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`;
      into.set(`/${relative(base, full).split(sep).join('/')}`, { body, type: TYPES[extname(name)] ?? 'application/octet-stream', etag });
    }
  }
}

const SECURITY_HEADERS = {
  'content-security-policy': [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:", "connect-src 'self'",
    "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
  ].join('; '),
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
};

export function staticFiles(log: Logger, dir = join(packageRoot(), 'dist', 'web')) {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  if (existsSync(dir)) readTree(dir, files);
  else log.warn({ dir }, 'no built web page; run `npm run build`');
  return (path: string, header: (name: string) => string): ApiReply | undefined => {
    const file = files.get(path === '/' ? '/index.html' : path);
    if (!file) return undefined;
    const headers = { etag: file.etag, 'cache-control': 'no-cache', ...SECURITY_HEADERS };
    if (header('if-none-match') === file.etag) return { status: 304, body: '', headers };
    return { status: 200, body: file.body, headers: { ...headers, 'content-type': file.type } };
  };
}
