// What both demos share: their settings from the environment, and one publish through the
// gateway's HTTP API (POST /api/publish with an API key). Plain Node.js 20, no dependencies.
//
// Environment: GATEWAY_URL (default http://localhost:8080), API_KEY (required), ACTION (the
// demo's default), INTERVAL_MS (default 3000), COUNT (stop after N messages; default: forever).
// A missing or bad setting, or a key the gateway refuses (401), exits 1 with a clear message;
// other failures (gateway down, 5xx) are logged and the caller tries again at its next tick.

/** The demo's settings; exits 1 when one is missing or bad. */
export function settings(defaultAction) {
  const s = {
    url: process.env.GATEWAY_URL ?? 'http://localhost:8080',
    apiKey: process.env.API_KEY,
    action: process.env.ACTION ?? defaultAction,
    intervalMs: Number(process.env.INTERVAL_MS ?? 3000),
    count: process.env.COUNT ? Number(process.env.COUNT) : Infinity,
  };
  if (!s.apiKey) {
    console.error('API_KEY is required: one of the keys in the gateway\'s API_KEYS (see examples/README.md)');
    process.exit(1);
  }
  if (!(s.intervalMs > 0) || !(s.count > 0)) {
    console.error('INTERVAL_MS and COUNT must be positive numbers');
    process.exit(1);
  }
  return s;
}

/** Publish `data` to `s.action`; resolves with the gateway's `{action, ts, offset?}`, or undefined after logging a failure. */
export async function publish(s, data, unreachable = 'trying again next tick') {
  let res;
  try {
    res = await fetch(`${s.url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: s.action, data }),
    });
  } catch (err) {
    console.error(`${s.url} unreachable (${err.cause?.code ?? err.message}); ${unreachable}`);
    return undefined;
  }
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    console.error(`the gateway refused API_KEY (401): ${body.message ?? ''}`);
    process.exit(1);
  }
  if (res.status !== 200) {
    console.error(`publish failed: HTTP ${res.status} ${body.error ?? ''} ${body.message ?? ''}`);
    return undefined;
  }
  return body.published[0];
}

/** Wait `ms` between two messages. */
export const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
