/**
 * vitest globalSetup: compile once, so integration tests start the same dist/ artifact that
 * `npm start` runs (child processes can then be SIGKILLed like real nodes).
 *
 * Every project that spawns dist/ lists this file, and vitest runs a globalSetup once per
 * project; the mark on globalThis (one vitest process) makes the build happen only once, and
 * `--if-stale` skips it when dist/ was built from exactly these sources (scripts/build.mjs).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILT = Symbol.for('realtime-gateway.test.built');

export default function setup(): void {
  const marks = globalThis as Record<symbol, unknown>;
  if (marks[BUILT]) return;
  const script = fileURLToPath(new URL('../../../scripts/build.mjs', import.meta.url));
  execFileSync(process.execPath, [script, '--if-stale'], { stdio: 'inherit' });
  marks[BUILT] = true;
}
