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
  it('migrates a fresh file once when several processes open it at the same moment', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mig-')), 'users.db');
    const script = `import('${new URL('../../../dist/gateway/src/users/sqlite.js', import.meta.url).href}').then(m => { new m.SqliteUserDirectory(process.argv[1]).close(); })`;
    const runs = Array.from({ length: 4 }, () => new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ['-e', script, file], { stdio: 'ignore' });
      p.on('exit', (code) => resolve(code ?? -1));
    }));
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    const dir = new SqliteUserDirectory(file);
    expect(dir.add({ username: 'after' }).username).toBe('after');
    dir.close();
  });
});
