// Tour availability: three tours whose seats go down at random every INTERVAL_MS until all
// are sold out. Each message carries the FULL state of all three tours, so with the gateway
// keeping the last message (HISTORY_ACTIONS=tours=1/1h) a page joining with `history: 1` gets
// the current seats at once (web/tours.html). Plain Node.js 20, no dependencies.
//
//   API_KEY=<one of the gateway's API_KEYS> npm run demo:tours
//
// Environment: GATEWAY_URL (default http://localhost:8080), API_KEY (required), ACTION
// (default tours), INTERVAL_MS (default 3000), COUNT (stop after N messages; default: until sold out).
// Message: {"tours":[{"id","name","seats","capacity"},…],"at":<ms>} (see web/src/tours-data.ts).
// Exit codes: 0 when sold out or after COUNT, 1 on a missing/bad setting or a refused key (401).
const url = process.env.GATEWAY_URL ?? 'http://localhost:8080';
const apiKey = process.env.API_KEY;
const action = process.env.ACTION ?? 'tours';
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

const tours = [
  { id: 'alps', name: 'Alps trek', seats: 12, capacity: 12 },
  { id: 'fjords', name: 'Fjords by boat', seats: 8, capacity: 8 },
  { id: 'sahara', name: 'Sahara nights', seats: 10, capacity: 10 },
];

/** One to three seats fewer on a random tour that still has some. */
function sellSome() {
  const open = tours.filter((t) => t.seats > 0);
  const tour = open[Math.floor(Math.random() * open.length)];
  tour.seats = Math.max(0, tour.seats - 1 - Math.floor(Math.random() * 3));
}

async function publishState() {
  const data = { tours, at: Date.now() };
  let res;
  try {
    res = await fetch(`${url}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action, data }),
    });
  } catch (err) {
    return console.error(`${url} unreachable (${err.cause?.code ?? err.message}); the next update carries the full state`);
  }
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    console.error(`the gateway refused API_KEY (401): ${body.message ?? ''}`);
    process.exit(1);
  }
  if (res.status !== 200) return console.error(`publish failed: HTTP ${res.status} ${body.error ?? ''} ${body.message ?? ''}`);
  const offset = body.published[0].offset;
  console.log(`${tours.map((t) => `${t.id} ${t.seats}/${t.capacity}`).join('  ')}${offset ? `  (offset ${offset})` : '  (no history kept: set HISTORY_ACTIONS=tours=1/1h)'}`);
}

// The first message is the initial state; each later one follows a sale.
for (let sent = 0; sent < count; sent += 1) {
  if (sent > 0) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    sellSome();
  }
  await publishState();
  if (tours.every((t) => t.seats === 0)) {
    console.log('all tours sold out');
    break;
  }
}
