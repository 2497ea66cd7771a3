/**
 * Passwords: scrypt (N=16384, r=8, p=1, 16-byte salt, 32-byte key), stored as
 * `scrypt$N$r$p$saltB64$hashB64`.
 *
 * Checking runs on libuv's thread pool (`crypto.scrypt`), never on the event loop: one check
 * is ~50 ms of CPU, and ten sign-ins must not delay other sockets' pings. At most `max` checks
 * run at once (the pool has 4 threads, shared with other work); up to `queue` more wait; past
 * that a check fails at once with PasswordChecksBusy (the caller answers 503, retry later).
 * Hashing new passwords (CLI, `users add`) stays synchronous: no event loop to protect there.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const SCRYPT = { N: 16384, r: 8, p: 1, keyLen: 32, saltLen: 16 } as const;

export class PasswordChecksBusy extends Error {
  override name = 'PasswordChecksBusy';
}

export function hashPassword(password: string): string {
  const salt = randomBytes(SCRYPT.saltLen);
  const key = scryptSync(password, salt, SCRYPT.keyLen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

function scryptAsync(password: string, salt: Buffer, keyLen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(password, salt, keyLen, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** True when `password` matches `stored`; a malformed or foreign hash never matches. */
async function matches(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  const N = Number(n), R = Number(r), P = Number(p);
  if (scheme !== 'scrypt' || !salt || !hash || !(N >= 2 && N <= 1 << 17) || !(R >= 1 && R <= 16) || !(P >= 1 && P <= 16)) return false;
  const expected = Buffer.from(hash, 'base64');
  if (expected.length < 16) return false;
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, { N, r: R, p: P, maxmem: 256 * N * R + 1024 * 1024 });
  return timingSafeEqual(actual, expected);
}

export class PasswordChecks {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max = 4, private readonly queue = 64) {}

  /** Does `password` match `stored`? Rejects with PasswordChecksBusy when too many checks wait. */
  async check(password: string, stored: string): Promise<boolean> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.queue) throw new PasswordChecksBusy('too many sign-ins in progress; retry in a moment');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.running += 1;
    try {
      return await matches(password, stored);
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }
}
