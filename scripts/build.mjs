// Build: type-check and compile the gateway to dist/, copy its Lua scripts, build the client
// package into client/dist/ (client/build.mjs) when client/ has one, bundle the browser page
// when web/ has one, and after it the React example page (examples/react/build.mjs: react.html,
// react.js, react.css in dist/web/; it imports the built client package by name).
//
//   node scripts/build.mjs             build now: `npm install` (prepare), `npm run build`, the
//                                      tests' globalSetup
//   node scripts/build.mjs --if-stale  build only when an input changed since the last build:
//                                      `npm start` (prestart), so a start runs what was built
//   node scripts/build.mjs --check     exit 0 when dist/ is up to date, 1 when not; builds nothing
//
// Freshness: a sha256 of the inputs (INPUTS below, paths and contents) is written to
// dist/.build-stamp once a build has succeeded. It is removed before a build starts, so a failed
// or interrupted build never reads as fresh, and it is the hash taken before the build, so an
// input edited during the build leaves the stamp disagreeing and the next start builds again.
//
// Concurrency: every build holds the lock dist/.build-lock (scripts/build-lock.mjs). An
// --if-stale run that finds the lock held waits for it, then looks at the stamp again: of two
// `npm start` at once, one builds and the other runs what the first built.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withLock } from './build-lock.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const STAMP = join(dist, '.build-stamp');
const LOCK = join(dist, '.build-lock');
const ENTRY = join(dist, 'gateway', 'src', 'main.js');
const WEB_BUILD = join(root, 'web', 'build.mjs');
const withWeb = existsSync(WEB_BUILD) && !process.env.BUILD_SKIP_WEB;
const CLIENT_BUILD = join(root, 'client', 'build.mjs');
const CLIENT_ENTRY = join(root, 'client', 'dist', 'index.mjs');
const withClient = existsSync(CLIENT_BUILD) && !process.env.BUILD_SKIP_CLIENT;
const REACT_BUILD = join(root, 'examples', 'react', 'build.mjs');
// A demo page: skipped (not failed) where react-dom is not installed (npm install --omit=dev).
const withReact = withWeb && existsSync(REACT_BUILD) && existsSync(join(root, 'node_modules', 'react-dom')) &&
  (withClient || existsSync(CLIENT_ENTRY));

/** What the build reads, relative to the root; folders are walked, dot-files and SKIP left out. */
const INPUTS = [
  'gateway/src', 'shared', 'client', 'web', 'examples/react', 'scripts/build.mjs', 'scripts/build-lock.mjs', 'package.json', 'package-lock.json',
  ...readdirSync(root).filter((f) => /^tsconfig.*\.json$/.test(f)),
];
const SKIP = new Set(['web/test', 'client/dist', 'client/test', 'client/node_modules']);

function inputsHash() {
  const hash = createHash('sha256').update(`web:${withWeb}\0client:${withClient}\0react:${withReact}\0`);
  const add = (rel) => {
    if (SKIP.has(rel)) return;
    const abs = join(root, rel);
    if (!existsSync(abs)) return;
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      if (err.code !== 'ENOTDIR') throw err;
      const content = readFileSync(abs);
      hash.update(`${rel}\0${content.length}\0`).update(content);
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (!e.name.startsWith('.') && (e.isDirectory() || e.isFile())) add(`${rel}/${e.name}`);
    }
  };
  for (const rel of INPUTS) add(rel);
  return hash.digest('hex');
}

function readStamp() {
  try {
    return readFileSync(STAMP, 'utf8').trim();
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

function isFresh(hash) {
  return readStamp() === hash && existsSync(ENTRY) && (!withWeb || existsSync(join(dist, 'web', 'index.html'))) &&
    (!withClient || existsSync(CLIENT_ENTRY)) && (!withReact || existsSync(join(dist, 'web', 'react.html')));
}

let child;
function run(args) {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      child = undefined;
      if (code === 0) resolve();
      else reject(new Error(`${args.map((a) => a.replace(`${root}/`, '')).join(' ')} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

function copyLua(dir) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) copyLua(rel);
    else if (entry.name.endsWith('.lua')) {
      mkdirSync(dirname(join(dist, rel)), { recursive: true });
      cpSync(join(root, rel), join(dist, rel));
    }
  }
}

async function build(hash) {
  rmSync(STAMP, { force: true });
  await run([join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')]);
  copyLua('gateway/src');
  if (withClient) await run([CLIENT_BUILD]);
  if (withWeb) await run([WEB_BUILD]);
  if (withReact) await run([REACT_BUILD]);
  writeFileSync(`${STAMP}.tmp`, `${hash}\n`);
  renameSync(`${STAMP}.tmp`, STAMP);
}

if (process.argv.includes('--check')) {
  const fresh = isFresh(inputsHash()) && !existsSync(LOCK);
  console.log(fresh ? 'build: dist/ is up to date' : 'build: dist/ is out of date (or being built)');
  process.exit(fresh ? 0 : 1);
}
const ifStale = process.argv.includes('--if-stale');
// The quick path of `npm start`: fresh, and nobody building right now.
if (ifStale && isFresh(inputsHash()) && !existsSync(LOCK)) {
  console.log('build: dist/ is up to date');
  process.exit(0);
}
mkdirSync(dist, { recursive: true });
try {
  await withLock(LOCK, async () => {
    const hash = inputsHash();
    if (ifStale && isFresh(hash)) {
      console.log('build: dist/ is up to date (built while this start waited)');
      return;
    }
    if (ifStale) console.log('build: the sources changed since the last build; building dist/');
    await build(hash);
  }, {
    onWait: (holder) => console.log(`build: waiting for ${holder}, which is building dist/`),
    onInterrupt: () => child?.kill('SIGTERM'),
  });
} catch (err) {
  console.error(`build: ${err.message}`);
  process.exit(1);
}
