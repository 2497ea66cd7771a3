/**
 * The SQLite user directory's first open, from several processes at once: the schema
 * migration runs once and every process gets a usable file. The processes load the compiled
 * directory from dist/ (built once by the vitest globalSetup).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteUserDirectory } from '../../src/users/sqlite.js';

describe('concurrent first open', () => {
  // Rounds, because the collision (one process switching the fresh file to WAL while another
  // opens it) is a matter of milliseconds: it once failed a gateway start with "database is locked".
  it('migrates a fresh file once when several processes open it at the same moment, round after round', async () => {
    const script = `import('${new URL('../../../dist/gateway/src/users/sqlite.js', import.meta.url).href}').then(m => { new m.SqliteUserDirectory(process.argv[1]).close(); })`;
    for (let round = 0; round < 8; round += 1) {
      const file = join(mkdtempSync(join(tmpdir(), 'mig-')), 'users.db');
      const runs = Array.from({ length: 4 }, () => new Promise<{ code: number; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, ['-e', script, file], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        p.stderr.on('data', (d) => (stderr += d));
        p.on('exit', (code) => resolve({ code: code ?? -1, stderr }));
      }));
      expect(await Promise.all(runs)).toEqual(Array(4).fill({ code: 0, stderr: '' }));
      const dir = new SqliteUserDirectory(file);
      expect(dir.add({ username: 'after' }).username).toBe('after');
      dir.close();
    }
  }, 60_000);
});
