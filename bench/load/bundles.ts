/**
 * What a web app pays to connect and subscribe, ours next to the peers' browser clients: for each,
 * an app module importing what that client's docs import, bundled the way an app bundles it
 * (esbuild: ESM, browser, minified, es2020; the same settings for all), in bytes minified and
 * minified + gzip (level 9). The app exports what it imports, so tree shaking keeps the client.
 * Bundles stay in memory (`write: false`); ours is the installed package (client/dist, built by
 * scripts/build.mjs), not its sources. Peers: socket.io-client, pusher-js, ably and ably/modular.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleSize, SIZE_BUDGET_GZIP } from '../../client/test/size.js';
import { ROOT } from './procs.js';
import { verdict, type Verdict } from './verdict.js';

/** The target: min+gzip bytes of ours at most the pack test's budget, and below every peer's. */
const BUNDLE_BUDGET_GZIP = SIZE_BUDGET_GZIP;

export interface BundleRow { name: string; minified: number; gzip: number }

const APPS: Array<{ name: string; pkg: string; app: string }> = [
  { name: 'ours: @realtime-gateway/client', pkg: '@realtime-gateway/client',
    app: "import { RealtimeClient } from '@realtime-gateway/client';\nexport { RealtimeClient };\n" },
  { name: 'socket.io-client', pkg: 'socket.io-client', app: "import { io } from 'socket.io-client';\nexport { io };\n" },
  { name: 'pusher-js', pkg: 'pusher-js', app: "import Pusher from 'pusher-js';\nexport { Pusher };\n" },
  { name: 'ably (Realtime)', pkg: 'ably', app: "import * as Ably from 'ably';\nexport const Realtime = Ably.Realtime;\n" },
  { name: 'ably/modular (BaseRealtime + WebSocketTransport, FetchRequest, RealtimePresence)', pkg: 'ably',
    app: "import { BaseRealtime, WebSocketTransport, FetchRequest, RealtimePresence } from 'ably/modular';\n" +
      'export { BaseRealtime, WebSocketTransport, FetchRequest, RealtimePresence };\n' },
];

const version = (pkg: string) => (JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;

/** The pack test's bundling (client/test/size.ts), from the repository's node_modules. */
async function bundle(app: string): Promise<{ minified: number; gzip: number }> {
  const { minified, gzip } = await bundleSize(app, ROOT);
  return { minified, gzip };
}

/** One row per client, ours first; names carry the installed versions. */
export async function measureBundles(): Promise<BundleRow[]> {
  if (!existsSync(join(ROOT, 'client', 'dist', 'index.mjs'))) throw new Error('client/dist/index.mjs is missing: build first (node scripts/build.mjs)');
  const rows: BundleRow[] = [];
  for (const { name, pkg, app } of APPS) rows.push({ name: `${name} ${version(pkg)}`, ...(await bundle(app)) });
  return rows;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export function formatBundles(rows: BundleRow[]): string {
  if (rows.length === 0) return '';
  const ours = rows[0];
  return [
    'Client bundle: what an app imports to connect and subscribe, esbuild (esm, browser, minify, es2020), gzip -9:',
    '',
    '| client bundle | min | min+gzip | ours ÷ it, min+gzip |',
    '|---|---:|---:|---:|',
    ...rows.map((r) => `| ${r.name} | ${kb(r.minified)} | ${kb(r.gzip)} | ${(ours.gzip / r.gzip).toFixed(2)}x |`),
  ].join('\n');
}

export function bundleVerdict(rows: BundleRow[] | undefined): Verdict {
  const what = `client bundle ≤ ${BUNDLE_BUDGET_GZIP / 1024} KB min+gzip, smaller than socket.io-client, pusher-js and ably (modular too)`;
  if (!rows || rows.length < 2) return verdict(undefined, what, 'no data');
  const [ours, ...peers] = rows;
  const smallest = peers.reduce((a, b) => (b.gzip < a.gzip ? b : a));
  const pass = ours.gzip <= BUNDLE_BUDGET_GZIP && ours.gzip < smallest.gzip;
  return verdict(pass, what, `ours ${kb(ours.gzip)} (${ours.gzip} B); smallest peer ${smallest.name} ${kb(smallest.gzip)} = ${(ours.gzip / smallest.gzip).toFixed(2)}x`);
}
