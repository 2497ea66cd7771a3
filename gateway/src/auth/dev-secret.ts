/**
 * The development signing secret, used only when neither JWT_SECRET nor JWKS_URL is set
 * (and never with NODE_ENV=production, which config.ts refuses). It is kept in a file next
 * to the database so every local gateway and the token CLI agree on it.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function devSecretFile(dbPath: string): string {
  return join(dirname(dbPath), 'dev-jwt-secret');
}

export function readOrCreateDevSecret(dbPath: string): string {
  const file = devSecretFile(dbPath);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 32) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim();
    throw err;
  }
}
