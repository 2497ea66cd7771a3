// Build the client package (@realtime-gateway/client) into client/dist/, what `npm pack ./client`
// ships (package.json `files`):
//
//   dist/index.mjs                    ESM (es2020), the `import` condition; not minified (apps minify)
//   dist/index.cjs                    CommonJS (es2020), the `require` condition
//   dist/realtime-gateway.min.js      minified IIFE for a <script> tag: global `RealtimeGateway`
//                                     (`unpkg` / `jsdelivr`)
//   dist/types/client/src/*.d.ts      declarations (tsc), with those of shared/ beside them in
//   dist/types/shared/*.d.ts          dist/types/shared/, so the package's types are self-contained
//   dist/types-cjs/...                the same declarations under {"type": "commonjs"}: the types
//                                     of the `require` condition (a CommonJS importer must not be
//                                     handed ESM declarations)
//
// No source maps are shipped (the sources are not in the package).
//
// Run by scripts/build.mjs (the root build, after tsc), by `npm pack ./client` (prepack), by the
// tests' globalSetup (client/test/harness/build.ts), or on its own: `node client/build.mjs`.
// Builds hold the lock client/.build-lock (scripts/build-lock.mjs), so two builds never write
// dist/ at once and a reader that takes the lock (the pack test) never sees a half-built dist/.
//
//   dist/react.mjs, dist/react.cjs    the React bindings (`./react`), react external. They import
//                                     only types from the core entry, so an app holds one copy of
//                                     RealtimeClient, and the core entry does not grow.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { withLock } from '../scripts/build-lock.mjs';

const client = dirname(fileURLToPath(import.meta.url));
const root = join(client, '..');
const dist = join(client, 'dist');
export const LOCK = join(client, '.build-lock');

/** Entry points, by output name (dist/<name>.mjs, dist/<name>.cjs). */
const ENTRIES = { index: join(client, 'src', 'index.ts'), react: join(client, 'src', 'react', 'index.ts') };
/** The entry the <script> file exposes as `globalThis.RealtimeGateway`. */
const IIFE = { entry: ENTRIES.index, file: 'realtime-gateway.min.js', globalName: 'RealtimeGateway' };

const pkg = JSON.parse(readFileSync(join(client, 'package.json'), 'utf8'));

function tsc() {
  const args = [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(client, 'tsconfig.json')];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`tsc -p client/tsconfig.json failed (${signal ?? `exit ${code}`})`))));
  });
}

const common = { bundle: true, target: 'es2020', legalComments: 'none', logLevel: 'warning', sourcemap: false, external: ['react'] };

async function declarations() {
  await tsc();
  cpSync(join(dist, 'types'), join(dist, 'types-cjs'), { recursive: true });
  writeFileSync(join(dist, 'types-cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
}

export async function buildClient() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(dist, { recursive: true });
  const [, , , iife] = await Promise.all([
    declarations(),
    build({ ...common, entryPoints: ENTRIES, outdir: dist, outExtension: { '.js': '.mjs' }, format: 'esm', platform: 'neutral' }),
    build({ ...common, entryPoints: ENTRIES, outdir: dist, outExtension: { '.js': '.cjs' }, format: 'cjs', platform: 'neutral' }),
    build({
      ...common, entryPoints: [IIFE.entry], outfile: join(dist, IIFE.file), format: 'iife', globalName: IIFE.globalName,
      platform: 'browser', minify: true, banner: { js: `/*! ${pkg.name} ${pkg.version} | ${pkg.license} */` }, write: false,
    }),
  ]);
  const code = iife.outputFiles[0].contents;
  writeFileSync(join(dist, IIFE.file), code);
  return { iife: code.length, iifeGzip: gzipSync(code, { level: 9 }).length };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const sizes = await withLock(LOCK, buildClient, { onWait: (holder) => console.log(`client build: waiting for ${holder}`) });
    console.log(`client build: client/dist/ (${IIFE.file}: ${sizes.iife} B, ${sizes.iifeGzip} B gzip)`);
  } catch (err) {
    console.error(`client build: ${err.message}`);
    process.exit(1);
  }
}
