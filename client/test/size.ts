/**
 * What RealtimeClient costs a web app: an app module that imports it and creates a client,
 * bundled the way an app bundles it (esbuild: browser, ESM, minified), in bytes minified and
 * minified + gzip (level 9). The pack test holds the package to SIZE_BUDGET_GZIP; the bench can
 * report it. By default the bundle reads the sources (client/src/index.ts); give `specifier` and
 * `resolveDir` to measure an installed package instead (e.g. '@realtime-gateway/client' from an
 * app's folder).
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** min+gzip bytes a browser app may pay for `RealtimeClient`. */
export const SIZE_BUDGET_GZIP = 10 * 1024;

const SOURCE_ENTRY = fileURLToPath(new URL('../src/index.ts', import.meta.url));

export interface BundleSize {
  minified: number;
  gzip: number;
  /** What the minified bundle is made of, largest first: input path (relative to the bundle's working directory) and bytes. */
  inputs: Array<{ path: string; bytes: number }>;
}

export async function clientBundleSize(opts: { specifier?: string; resolveDir?: string } = {}): Promise<BundleSize> {
  const specifier = JSON.stringify(opts.specifier ?? SOURCE_ENTRY);
  const app = `import { RealtimeClient } from ${specifier};\n` +
    "export const client = new RealtimeClient('wss://example.test/ws', { getToken: async () => 'token' });\n";
  return bundleSize(app, opts.resolveDir ?? process.cwd());
}

/** Any app module `app` (its imports resolved from `resolveDir`), bundled as above: the bench measures the peers' clients with it too. */
export async function bundleSize(app: string, resolveDir: string): Promise<BundleSize> {
  const result = await build({
    stdin: { contents: app, resolveDir, sourcefile: 'app.js', loader: 'js' },
    absWorkingDir: resolveDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const [output] = Object.values(result.metafile.outputs);
  const inputs = Object.entries(output.inputs)
    .map(([path, { bytesInOutput }]) => ({ path, bytes: bytesInOutput }))
    .sort((a, b) => b.bytes - a.bytes);
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length, inputs };
}
