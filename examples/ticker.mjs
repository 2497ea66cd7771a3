// A random-number ticker: publishes {"value": <0..100>, "at": <ms>} to an action every
// INTERVAL_MS through the gateway's publish API. Plain Node.js 20, no dependencies.
//
//   API_KEY=<one of the gateway's API_KEYS> npm run demo:ticker
//
// Environment: GATEWAY_URL (default http://localhost:8080), API_KEY (required), ACTION
// (default ticker), INTERVAL_MS (default 3000), COUNT (stop after N ticks; default: forever).
// Exit codes: 0 after COUNT ticks, 1 on a missing/bad setting or a refused key (401).
// Other failures (gateway down, 5xx) are logged and the next tick tries again.
const url = process.env.GATEWAY_URL ?? 'http://localhost:8080';
const apiKey = process.env.API_KEY;
const action = process.env.ACTION ?? 'ticker';
const intervalMs = Number(process.env.INTERVAL_MS ?? 3000);
const count = process.env.COUNT ? Number(process.env.COUNT) : Infinity;

if (!apiKey) {
  console.error('API_KEY is required: one of the keys in the gateway\'s API_KEYS (see examples/README.md)');
  process.exit(1);
}
if (!(intervalMs > 0) || !(count > 0)) {
  console.error('INTERVAL_MS and COUNT must be positive numbers');
  process.exit(1);
}

async function tick() {
  const data = { value: Math.round(Math.random() * 10_000) / 100, at: Date.now() };
  let res;
  try {
    res = await fetch(`${url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action, data }),
    });
  } catch (err) {
    return console.error(`${url} unreachable (${err.cause?.code ?? err.message}); trying again next tick`);
  }
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    console.error(`the gateway refused API_KEY (401): ${body.message ?? ''}`);
    process.exit(1);
  }
  if (res.status !== 200) return console.error(`publish failed: HTTP ${res.status} ${body.error ?? ''} ${body.message ?? ''}`);
  const [sent] = body.published;
  console.log(`${action} ← ${data.value}  (ts ${sent.ts}${sent.offset ? `, offset ${sent.offset}` : ''})`);
}

for (let sent = 0; sent < count; sent += 1) {
  if (sent > 0) await new Promise((resolve) => setTimeout(resolve, intervalMs));
  await tick();
}
