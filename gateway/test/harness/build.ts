/**
 * vitest globalSetup: compile once, so integration tests start the same dist/ artifact that
 * `npm start` runs (child processes can then be SIGKILLed like real nodes).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const script = fileURLToPath(new URL('../../../scripts/build.mjs', import.meta.url));
  execFileSync(process.execPath, [script], { stdio: 'inherit' });
}
