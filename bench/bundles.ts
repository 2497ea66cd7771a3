/**
 * `npm run bench:bundles`: the client package's browser bundle next to socket.io-client's,
 * pusher-js's and ably's (see load/bundles.ts), and the target's PASS/MISS line. Seconds, no
 * servers; `npm run bench` runs it too.
 */
import { bundleVerdict, formatBundles, measureBundles } from './load/bundles.js';

async function main(): Promise<void> {
  const rows = await measureBundles();
  const v = bundleVerdict(rows);
  console.log(`${formatBundles(rows)}\n\nTarget:\n  ${v.line}`);
  if (!v.pass) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
