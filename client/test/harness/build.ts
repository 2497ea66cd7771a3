/**
 * vitest globalSetup of the `client` project: build client/dist/ once (client/build.mjs; it
 * holds client/.build-lock, so a root build running at the same time takes turns with it).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const script = fileURLToPath(new URL('../../build.mjs', import.meta.url));
  execFileSync(process.execPath, [script], { stdio: 'inherit' });
}
