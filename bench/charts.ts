/**
 * `npm run bench:charts [-- <results.json>]`: the charts of a saved run (bench/results.json by
 * default, which `npm run bench` writes) into bench/charts/, without running anything again.
 */
import { relative } from 'node:path';
import { loadRun, RESULTS_FILE, writeCharts } from './load/charts.js';
import { ROOT } from './load/procs.js';

const file = process.argv[2] ?? RESULTS_FILE;
const run = loadRun(file);
const written = writeCharts(run);
process.stdout.write(`${written.length} chart(s) from ${relative(ROOT, file)} (${run.meta.quick ? 'quick run' : 'full run'} of ${run.meta.date}):\n`);
for (const path of written) process.stdout.write(`  ${relative(ROOT, path)}\n`);
