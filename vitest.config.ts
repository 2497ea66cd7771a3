import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests by kind, one vitest project each (`vitest run --project unit`; `npm test` runs all), chosen
 * by folder alone, so a new test file runs in the project of the folder it is put in:
 * - unit: pure logic and in-process memory twins; no child process, no redis-server, no build
 *   (gateway/test/unit/ and the top level of web/test/).
 * - contract: the stores against a real redis-server (started by the test on a free port).
 * - integration, faults, ops: gateways spawned from dist/, so these build first (globalSetup);
 *   integration also holds the client package against real gateways (client/test/integration/).
 * - client: the client package as its users get it (client/test/, not integration/): builds
 *   client/dist/ first (globalSetup), packs it, installs the tarball in a temporary app.
 * - browser: the page and demos in Chromium through nginx (web/test/browser/); bench: the benchmark's smoke run.
 */
const BUILD = ['gateway/test/harness/build.ts'];
const CLIENT_BUILD = ['client/test/harness/build.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Two cores, shared by every project: integration files start their own redis-server and gateway processes.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['gateway/test/unit/**/*.test.ts', 'web/test/*.test.ts'] } },
      { extends: true, test: { name: 'contract', include: ['gateway/test/contract/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['gateway/test/integration/**/*.test.ts', 'client/test/integration/**/*.test.ts'], globalSetup: BUILD } },
      {
        extends: true,
        test: {
          name: 'client',
          include: ['client/test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'client/test/integration/**'],
          globalSetup: CLIENT_BUILD,
        },
      },
      { extends: true, test: { name: 'faults', include: ['gateway/test/faults/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'ops', include: ['gateway/test/ops/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'browser', include: ['web/test/browser/**/*.test.ts'], globalSetup: BUILD } },
      { extends: true, test: { name: 'bench', include: ['bench/test/**/*.test.ts'], globalSetup: BUILD } },
    ],
  },
});
