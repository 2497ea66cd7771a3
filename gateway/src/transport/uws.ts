/**
 * Loads the native uWebSockets.js binary directly. The registry mirror's entry point
 * silently falls back to a slow `ws`-based shim (no pub/sub, no backpressure) when the
 * binary does not load or UWS_USE_FALLBACK is set; the gateway refuses to run on it.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as UWS from 'uWebSockets.js';

export type Uws = typeof UWS;

export class NativeUwsError extends Error {
  override name = 'NativeUwsError';
}

export function loadNativeUws(): Uws {
  if (process.env.UWS_USE_FALLBACK) {
    throw new NativeUwsError('UWS_USE_FALLBACK is set: the gateway runs only on the native uWebSockets.js binary');
  }
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve('uWebSockets.js/package.json'));
  const file = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  try {
    return require(file) as Uws;
  } catch (err) {
    throw new NativeUwsError(`native uWebSockets.js binary did not load (${file}): ${(err as Error).message}`);
  }
}
