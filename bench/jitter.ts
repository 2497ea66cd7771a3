/**
 * `npm run bench:jitter [-- --quick]`: recovery under jitter alone (see load/jitter.ts), exact
 * rejoins next to plain ones, on a private redis-server. `npm run bench` runs it too.
 */
import { formatJitter, JITTER_FULL, JITTER_QUICK, runJitter, type JitterResult } from './load/jitter.js';
import { startRedis } from './load/procs.js';

async function main(): Promise<void> {
  const spec = process.argv.includes('--quick') ? JITTER_QUICK : JITTER_FULL;
  const redis = await startRedis();
  const results: JitterResult[] = [];
  try {
    for (const mode of ['exact', 'plain'] as const) {
      process.stderr.write(`[bench:jitter] ${mode}: ${spec.clients} clients, ${spec.seconds} s\n`);
      results.push(await runJitter(redis, spec, mode));
    }
  } finally {
    await redis.stop();
  }
  console.log(formatJitter(results));
  const exact = results[0];
  if (exact.delivered !== exact.expected || exact.duplicates > 0 || exact.orderBreaks > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
