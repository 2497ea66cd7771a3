/**
 * @realtime-gateway/client as its users get it: `npm pack ./client` (client/dist/ was built by
 * the project's globalSetup), the tarball installed offline into a fresh app in the OS temp
 * folder, and that app then imports it as ESM and as CommonJS, loads the <script> build, type-
 * checks a strict TypeScript app against its declarations (ESM and CommonJS), and bundles it for
 * the browser within SIZE_BUDGET_GZIP.
 *
 * Nothing but the local tarball is installed (`--offline`: the package has no dependencies).
 * The app has no TypeScript of its own: the repository's tsc checks it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientBundleSize, SIZE_BUDGET_GZIP } from './size.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const NAME = '@realtime-gateway/client';
/** client/build.mjs holds it while it writes client/dist/: packing under it never reads a half-built dist/. */
const LOCK = join(repo, 'client', '.build-lock');
type WithLock = <T>(path: string, fn: () => Promise<T>) => Promise<T>;

/** The environment without the npm_* variables of an outer `npm test`, so the inner npm runs on its defaults. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));

interface Ran { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 45_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr: err && code === null ? `${stderr}\n${err.message}` : stderr });
    });
  });
}

async function ok(cmd: string, args: string[], cwd: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  expect(r.code, `${cmd} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

interface Packed { filename: string; size: number; unpackedSize: number; files: Array<{ path: string; size: number }> }

describe(`${NAME} installed from its tarball`, () => {
  let temp: string;
  let app: string;
  let packed: Packed;
  let installed: string;

  beforeAll(async () => {
    temp = mkdtempSync(join(tmpdir(), 'rtg-client-pack-'));
    app = join(temp, 'app');
    const { withLock } = (await import(pathToFileURL(join(repo, 'scripts', 'build-lock.mjs')).href)) as { withLock: WithLock };
    // --ignore-scripts: dist/ is built (globalSetup); prepack would build it again, and wait on this lock.
    const out = await withLock(LOCK, () => ok('npm', ['pack', './client', '--pack-destination', temp, '--json', '--ignore-scripts'], repo));
    [packed] = JSON.parse(out) as Packed[];
    console.log(`${packed.filename}: ${packed.size} B packed, ${packed.unpackedSize} B unpacked, ${packed.files.length} files`);

    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), `${JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    await ok('npm', ['install', join(temp, packed.filename), '--offline', '--no-audit', '--no-fund'], app);
    installed = join(app, 'node_modules', ...NAME.split('/'));
  }, 60_000);

  afterAll(() => {
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  it('ships dist/ and the README only: no sources, tests or source maps, and no dependencies', () => {
    const paths = packed.files.map((f) => f.path).sort();
    for (const p of paths) expect(p).toMatch(/^(package\.json|README\.md|dist\/.+)$/);
    // Declarations only under dist/types*/ (their folders mirror the repository: dist/types/client/src/*.d.ts).
    expect(paths.filter((p) => /^(src|test)\/|(^|\/)test\/|\.test\.|\.map$|\.tsbuildinfo$|(?<!\.d)\.ts$/.test(p))).toEqual([]);
    for (const p of [
      'README.md', 'dist/index.mjs', 'dist/index.cjs', 'dist/realtime-gateway.min.js',
      'dist/types/client/src/index.d.ts', 'dist/types/shared/protocol.d.ts',
      'dist/types-cjs/package.json', 'dist/types-cjs/client/src/index.d.ts', 'dist/types-cjs/shared/protocol.d.ts',
    ]) expect(paths).toContain(p);

    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.name).toBe(NAME);
    expect(pkg.dependencies).toBeUndefined();
    expect(pkg.peerDependencies).toEqual({ react: '>=18' }); // the React bindings only, and optional
    expect(pkg.peerDependenciesMeta).toEqual({ react: { optional: true } });
    expect(pkg.sideEffects).toBe(false);
    // Nothing but the package itself was installed.
    expect(readdirSync(join(app, 'node_modules')).filter((f) => !f.startsWith('.'))).toEqual(['@realtime-gateway']);
  });

  it('imports as ESM (dist/index.mjs)', async () => {
    const script = `
      import { RealtimeClient, UnauthorizedError, RequestError, CloseCodes, compareOffsets } from '${NAME}';
      const client = new RealtimeClient('ws://x/ws', { getToken: async () => 't' });
      console.log(JSON.stringify({
        RealtimeClient: typeof RealtimeClient, state: client.state, channel: client.channel('a').name,
        unauthorized: new UnauthorizedError() instanceof Error, request: new RequestError('timeout', 'x').code,
        closeCodes: typeof CloseCodes, order: compareOffsets('10-0', '9-9') > 0, from: import.meta.resolve('${NAME}'),
      }));`;
    const got = JSON.parse(await ok(process.execPath, ['--input-type=module', '-e', script], app));
    expect(got).toMatchObject({
      RealtimeClient: 'function', state: 'disconnected', channel: 'a', unauthorized: true, request: 'timeout', closeCodes: 'object', order: true,
    });
    expect(got.from).toMatch(/\/node_modules\/@realtime-gateway\/client\/dist\/index\.mjs$/);
  });

  it('requires as CommonJS (dist/index.cjs)', async () => {
    const script = `
      const { RealtimeClient, UnauthorizedError } = require('${NAME}');
      const client = new RealtimeClient(['ws://a/ws', 'ws://b/ws'], { token: 't' });
      console.log(JSON.stringify({
        RealtimeClient: typeof RealtimeClient, state: client.state,
        unauthorized: new UnauthorizedError() instanceof Error, from: require.resolve('${NAME}'),
      }));`;
    const got = JSON.parse(await ok(process.execPath, ['-e', script], app));
    expect(got).toMatchObject({ RealtimeClient: 'function', state: 'disconnected', unauthorized: true });
    expect(got.from).toMatch(/\/node_modules\/@realtime-gateway\/client\/dist\/index\.cjs$/);
  });

  it('loads from a <script> tag as the global RealtimeGateway (dist/realtime-gateway.min.js)', () => {
    const appRequire = createRequire(join(app, 'package.json'));
    const file = appRequire.resolve(`${NAME}/realtime-gateway.min.js`);
    const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { unpkg: string };
    expect(join(installed, pkg.unpkg)).toBe(file);
    const window: Record<string, any> = {};
    runInNewContext(readFileSync(file, 'utf8'), window, { filename: file });
    expect(typeof window.RealtimeGateway.RealtimeClient).toBe('function');
    expect(new window.RealtimeGateway.RealtimeClient('ws://x/ws', { token: 't' }).state).toBe('disconnected');
  });

  it('type-checks a strict TypeScript app (module nodenext, skipLibCheck false), ESM and CommonJS', async () => {
    writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify({
      compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', noEmit: true, skipLibCheck: false, types: [] },
      files: ['index.ts', 'legacy.cts'],
    }, null, 2)}\n`);
    writeFileSync(join(app, 'index.ts'), `
import { RealtimeClient, UnauthorizedError, type ChannelMessage, type SearchResult } from '${NAME}';

const client = new RealtimeClient('ws://x/ws', { getToken: async () => 't' });
const off: () => void = client.channel('a').on('message', (m) => m.data);
const online: boolean = client.presence.online.has('x');
const result = await client.request({ type: 'search', q: 'x' });
const users: SearchResult['users'] = result.users;
const names: string[] = result.users.map((u) => u.username);
const err: Error = new UnauthorizedError('signed out');

// The types are real, not any: each line below must be an error.
// @ts-expect-error: 'nope' is not a command
await client.request({ type: 'nope' });
// @ts-expect-error: a search result has no 'messages'
result.messages;
client.channel('a').on('message', (m: ChannelMessage) => {
  // @ts-expect-error: a message has no 'nope'
  m.nope;
});
// @ts-expect-error: a client needs a URL
new RealtimeClient(42);

export { off, online, users, names, err };
`);
    writeFileSync(join(app, 'legacy.cts'), `
import { RealtimeClient } from '${NAME}';

const client: RealtimeClient = new RealtimeClient(['ws://a/ws', 'ws://b/ws'], { token: 't' });
// @ts-expect-error: a channel name is a string
client.channel(1);
export const state: 'disconnected' | 'connecting' | 'connected' | 'closed' = client.state;
`);
    const r = await run(process.execPath, [TSC, '-p', app, '--listFiles'], app);
    const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
    expect(errors, r.stdout + r.stderr).toEqual([]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    // The ESM app read the `import` condition's declarations, the .cts file those of `require`.
    const read = r.stdout.split('\n').map((l) => l.trim());
    expect(read).toContain(join(installed, 'dist/types/client/src/index.d.ts'));
    expect(read).toContain(join(installed, 'dist/types/shared/protocol.d.ts'));
    expect(read).toContain(join(installed, 'dist/types-cjs/client/src/index.d.ts'));
  });

  it(`bundles RealtimeClient for the browser within ${SIZE_BUDGET_GZIP} B min+gzip`, async () => {
    const size = await clientBundleSize({ specifier: NAME, resolveDir: app });
    console.log(`RealtimeClient in a browser bundle (esbuild, esm, minified): ${size.minified} B, ${size.gzip} B gzip (budget ${SIZE_BUDGET_GZIP} B)`);
    expect(size.inputs.map((i) => i.path)).toContain('node_modules/@realtime-gateway/client/dist/index.mjs');
    expect(size.gzip).toBeLessThanOrEqual(SIZE_BUDGET_GZIP);
  });
});
