// Bundle the browser pages into dist/web/: index.html + app.js (the main page), tours.html +
// tours.js (the tours dashboard, examples/README.md), each script with a source map for
// developers (external: the scripts do not point to it, and the gateway never serves it), and
// styles.css. Run by scripts/build.mjs (npm install / npm start) or on its own:
// `node web/build.mjs`. One esbuild call, no framework; fails (exit 1) on any bundling error.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, '..', 'dist', 'web');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: join(web, 'src', 'main.ts'), tours: join(web, 'src', 'tours.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  minify: true,
  sourcemap: 'external',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const file of ['index.html', 'tours.html', 'styles.css']) copyFileSync(join(web, file), join(out, file));
