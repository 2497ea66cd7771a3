// Build: type-check and compile the gateway to dist/, copy its Lua scripts, and bundle
// the browser page when web/ has one. Runs on `npm install` (prepare) and `npm start`.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

function copyLua(dir) {
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, entry.name);
    if (entry.isDirectory()) copyLua(rel);
    else if (entry.name.endsWith('.lua')) {
      mkdirSync(dirname(join(root, 'dist', rel)), { recursive: true });
      cpSync(join(root, rel), join(root, 'dist', rel));
    }
  }
}
copyLua('gateway/src');

const webBuild = join(root, 'web', 'build.mjs');
if (existsSync(webBuild) && !process.env.BUILD_SKIP_WEB) execFileSync(process.execPath, [webBuild], { stdio: 'inherit' });
