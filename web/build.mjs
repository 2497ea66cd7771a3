// Bundle the browser pages into dist/web/: index.html + app.js (the main page), tours.html +
// tours.js (the tours dashboard, examples/README.md), the operator's page in dist/web/admin/
// (admin.html as admin/index.html, admin/app.js with uPlot bundled in, admin/admin.css and
// uPlot's stylesheet, served at /admin: gateway/src/api/admin.ts), each script with a source map for
// developers (external: the scripts do not point to it, and the gateway never serves it), and
// styles.css. Run by scripts/build.mjs (npm install / npm start) or on its own:
// `node web/build.mjs`. One esbuild call, no framework; fails (exit 1) on any bundling error.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = dirname(fileURLToPath(import.meta.url));
const out = join(web, '..', 'dist', 'web');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: join(web, 'src', 'main.ts'), tours: join(web, 'src', 'tours.ts'), 'admin/app': join(web, 'src', 'admin', 'main.ts') },
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
copyFileSync(join(web, 'admin.html'), join(out, 'admin', 'index.html'));
copyFileSync(join(web, 'admin.css'), join(out, 'admin', 'admin.css'));
copyFileSync(createRequire(import.meta.url).resolve('uplot/dist/uPlot.min.css'), join(out, 'admin', 'uPlot.min.css'));
