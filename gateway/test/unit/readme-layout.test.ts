/**
 * README's "How it is built" layout cannot drift from the tree: every folder of gateway/src
 * and every file at its top level is named there, and every `*.ts` name the section mentions
 * exists where the section puts it (in gateway/src or the folder of its entry, in shared/, or at
 * `folder/file.ts` of gateway/src).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const src = join(root, 'gateway', 'src');

interface Entry { section: 'shared' | 'gateway/src'; name: string; text: string }

/** The layout block's entries: a line indented by two spaces starts one, deeper lines continue it. */
function layoutEntries(): Entry[] {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('## How it is built');
  const open = readme.indexOf('```\n', start);
  const block = readme.slice(open + 4, readme.indexOf('```', open + 4));
  const entries: Entry[] = [];
  let section: Entry['section'] | undefined;
  for (const line of block.split('\n')) {
    if (/^\S/.test(line)) section = line.startsWith('gateway/src/') ? 'gateway/src' : line.startsWith('shared/') ? 'shared' : undefined;
    else if (section && /^ {2}\S/.test(line)) {
      const name = line.trim().split(/\s{2,}/)[0];
      entries.push({ section, name, text: line });
    } else if (section && entries.length > 0 && line.trim()) entries[entries.length - 1].text += `\n${line}`;
  }
  return entries;
}

/** Every file below `dir`, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? walk(full, base) : [full.slice(base.length + 1)];
  });
}

describe('README layout section', () => {
  const entries = layoutEntries();
  const gateway = entries.filter((e) => e.section === 'gateway/src');

  it('is found, with entries for both shared/ and gateway/src/', () => {
    expect(gateway.length).toBeGreaterThan(10);
    expect(entries.some((e) => e.section === 'shared')).toBe(true);
  });

  it('names every folder of gateway/src, and no folder that does not exist', () => {
    const folders = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory()).sort();
    const named = gateway.filter((e) => e.name.endsWith('/')).map((e) => e.name.slice(0, -1)).sort();
    expect(named).toEqual(folders);
  });

  it('names every file at the top of gateway/src and of shared/', () => {
    const named = (section: Entry['section']) => new Set(entries.filter((e) => e.section === section && !e.name.endsWith('/'))
      .flatMap((e) => e.name.split(/,\s*/)));
    const files = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.ts') && statSync(join(dir, n)).isFile());
    expect(files(src).filter((f) => !named('gateway/src').has(f))).toEqual([]);
    expect(files(join(root, 'shared')).filter((f) => !named('shared').has(f))).toEqual([]);
  });

  it('mentions no .ts file that is not where its entry says', () => {
    const missing: string[] = [];
    for (const e of entries) {
      const dir = e.section === 'shared' ? join(root, 'shared') : e.name.endsWith('/') ? join(src, e.name.slice(0, -1)) : src;
      const present = existsSync(dir) && statSync(dir).isDirectory() ? new Set(walk(dir).map((f) => f.split('/').pop())) : new Set<string>();
      for (const file of e.text.match(/([\w-]+\/)?[\w-]+\.ts\b/g) ?? []) {
        // `folder/file.ts` names a file of another folder of gateway/src.
        const found = file.includes('/') ? existsSync(join(src, file)) : present.has(file);
        if (!found) missing.push(`${e.name}: ${file}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
