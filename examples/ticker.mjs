// A random-number ticker: publishes {"value": <0..100>, "at": <ms>} to an action every
// INTERVAL_MS through the gateway's publish API. Plain Node.js 20, no dependencies.
//
//   API_KEY=<one of the gateway's API_KEYS> npm run demo:ticker
//
// Publishes to `live:ticker` by default: with deploy/channels.example.json the `live`
// namespace takes publishes from backends only and keeps the last message (history 1/1h).
// Environment and exit codes: see publish.mjs (ACTION, INTERVAL_MS, COUNT, GATEWAY_URL, API_KEY).
import { pause, publish, settings } from './publish.mjs';

const s = settings('live:ticker');

for (let sent = 0; sent < s.count; sent += 1) {
  if (sent > 0) await pause(s.intervalMs);
  const data = { value: Math.round(Math.random() * 10_000) / 100, at: Date.now() };
  const out = await publish(s, data);
  if (out) console.log(`${s.action} ← ${data.value}  (ts ${out.ts}${out.offset ? `, offset ${out.offset}` : ''})`);
}
