/**
 * Unit: the shared-secret (HS*) verifier checks what jose checked before it: algorithm,
 * signature, exp (with the clock skew), iat not in the future, maximum age and lifetime,
 * issuer and audience. Every failure is an AuthError with a reason safe to log.
 */
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { AuthError } from '../../src/errors.js';
import { createGrantVerifier, createVerifier } from '../../src/auth/tokens.js';

const secret = new TextEncoder().encode('unit-secret-unit-secret-unit-secret-0123');
const auth = {
  secret, secretGenerated: false, algorithms: ['HS256'], clockSkewS: 5, maxTtlS: 3600, timeoutMs: 1000,
  issuer: 'https://issuer.example', audience: 'gateway',
} as unknown as Config['auth'];
const now = () => Math.floor(Date.now() / 1000);

async function sign(claims: Record<string, unknown>, alg = 'HS256', key = secret) {
  return new SignJWT({ iss: 'https://issuer.example', aud: 'gateway', iat: now(), exp: now() + 60, sub: 'u1', ...claims })
    .setProtectedHeader({ alg, typ: 'JWT' }).sign(key);
}
async function reason(token: string, verify = createVerifier(auth)): Promise<string> {
  try {
    await verify(token);
    return 'ok';
  } catch (err) {
    return err instanceof AuthError ? err.reason : `unexpected ${String(err)}`;
  }
}

describe('HS256 verification', () => {
  it('accepts a well-formed token and returns its identity', async () => {
    const id = await createVerifier(auth)(await sign({ name: 'Ann', channels: ['a'] }));
    expect(id).toMatchObject({ userId: 'u1', name: 'Ann', channels: ['a'] });
  });

  it('refuses tampered, foreign-key, other-algorithm, future, too-old and too-long tokens', async () => {
    const good = await sign({});
    const [h, , sig] = good.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'admin', iat: now(), exp: now() + 60, iss: 'https://issuer.example', aud: 'gateway' })).toString('base64url');
    const cases: Record<string, [string, string]> = {
      tampered: [`${h}.${forgedPayload}.${sig}`, 'invalid'],
      foreignKey: [await sign({}, 'HS256', new TextEncoder().encode('another-secret-another-secret-0123456')), 'invalid'],
      hs384: [await sign({}, 'HS384'), 'invalid'],
      expired: [await sign({ iat: now() - 120, exp: now() - 60 }), 'expired'],
      issuedInTheFuture: [await sign({ iat: now() + 600, exp: now() + 900 }), 'invalid'],
      olderThanMaxTtl: [await sign({ iat: now() - 7200, exp: now() + 60 }), 'expired'],
      lifetimeTooLong: [await sign({ exp: now() + 7200 }), 'invalid'],
      wrongIssuer: [await sign({ iss: 'https://evil.example' }), 'invalid'],
      wrongAudience: [await sign({ aud: 'other' }), 'invalid'],
      noSub: [await sign({ sub: undefined }), 'invalid'],
      stringExp: [await sign({ exp: String(now() + 60) }), 'invalid'],
      empty: ['', 'missing'],
      garbage: ['a.b.c', 'invalid'],
    };
    for (const [name, [token, want]] of Object.entries(cases)) expect(`${name}: ${await reason(token)}`).toBe(`${name}: ${want}`);
  });

  it('tolerates the configured clock skew at exp, not more', async () => {
    expect(await reason(await sign({ iat: now() - 60, exp: now() - 2 }))).toBe('ok');
    expect(await reason(await sign({ iat: now() - 60, exp: now() - 10 }))).toBe('expired');
  });

  it('checks channel grants the same way', async () => {
    const verify = createGrantVerifier(auth);
    expect(await verify(await sign({ channel: 'private-x' }))).toMatchObject({ userId: 'u1', channel: 'private-x' });
    expect(await reason(await sign({ channel: 'private-x', iat: now() + 600, exp: now() + 900 }), verify as never)).toBe('invalid');
    expect(await reason(await sign({}), verify as never)).toBe('invalid');
  });
});
