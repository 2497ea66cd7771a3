/**
 * `npm run bench:fallback [-- --quick]`: the HTTP streaming fallback beside the WebSocket in one
 * run (load/fallback.ts): gateway CPU per delivered message, RSS per idle connection, and the
 * client package's connect() → welcome when a proxy refuses the upgrade or lets it hang. One
 * private redis-server, one gateway node per phase. About 90 s (--quick: about 40 s); a watchdog
 * ends a run that overstays.
 */
import { cpus, totalmem } from 'node:os';
import { FALLBACK_FULL, FALLBACK_QUICK, fallbackVerdicts, formatFallback, runFallback } from './load/fallback.js';
import { busyFraction, machineTicks, sleep, startRedis } from './load/procs.js';

const quick = process.argv.includes('--quick');
const started = Date.now();
const log = (msg: string) => process.stderr.write(`[bench:fallback +${((Date.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

async function main(): Promise<void> {
  const m0 = machineTicks();
  await sleep(1000);
  const idleBusy = busyFraction(m0, machineTicks());
  const watchdog = setTimeout(() => {
    process.stderr.write('bench:fallback: the run exceeded 5 min and was cut short\n');
    process.exit(1);
  }, 5 * 60_000);
  const redis = await startRedis();
  try {
    const r = await runFallback(redis, quick ? FALLBACK_QUICK : FALLBACK_FULL, log);
    const cpu = cpus();
    const verdicts = fallbackVerdicts(r);
    console.log([
      `# realtime-gateway: HTTP fallback benchmark (${quick ? 'quick run' : 'full run'})`,
      `date: ${new Date().toISOString()}`,
      `machine: ${cpu.length} cores (${cpu[0]?.model.trim()}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`,
      `machine busy before start: ${(100 * idleBusy).toFixed(0)}% of all cores${idleBusy > 0.15 ? ' (OTHER LOAD PRESENT: figures are noisier)' : ''}`,
      '',
      formatFallback(r),
      '',
      'Targets:',
      ...verdicts.map((v) => `  ${v.line}`),
      '',
      `total time: ${((Date.now() - started) / 1000).toFixed(0)} s`,
    ].join('\n'));
    if (verdicts.some((v) => v.pass === false)) process.exitCode = 1;
  } finally {
    clearTimeout(watchdog);
    await redis.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
