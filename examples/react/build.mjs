// Bundle the React tours dashboard (examples/react/) into dist/web/, next to the main page, so
// every gateway serves it: react.html, react.js (+ react.js.map, never served) and react.css.
// It imports the client package by name (`@realtime-gateway/client`, `…/react`: the root's
// devDependency, a link to client/), so client/dist/ must be built first. Run by
// scripts/build.mjs after the web build, or on its own: `node examples/react/build.mjs`.
// Production React (minified; StrictMode's double effects are development-only). Fails (exit 1)
// on any bundling error.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'dist', 'web');
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { react: join(here, 'main.tsx') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020', 'chrome90', 'firefox90', 'safari14'],
  jsx: 'automatic',
  minify: true,
  sourcemap: 'external',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(here, 'index.html'), join(out, 'react.html'));
copyFileSync(join(here, 'react.css'), join(out, 'react.css'));
