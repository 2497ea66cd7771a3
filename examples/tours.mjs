// Tour availability: three tours whose seats go down at random every INTERVAL_MS until all
// are sold out. Each message carries the FULL state of all three tours, so with the gateway
// keeping the last message (the `live` namespace of deploy/channels.example.json: history
// 1/1h) a page joining with `history: 1` gets the current seats at once (web/tours.html,
// which believes only messages from the backend). Plain Node.js 20, no dependencies.
//
//   API_KEY=<one of the gateway's API_KEYS> npm run demo:tours
//
// Publishes to `live:tours` by default; COUNT defaults to "until sold out". Environment and
// exit codes: see publish.mjs. Message: {"tours":[{"id","name","seats","capacity"},…],"at":<ms>}
// (see web/src/tours-data.ts).
import { pause, publish, settings } from './publish.mjs';

const s = settings('live:tours');

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

// The first message is the initial state; each later one follows a sale.
for (let sent = 0; sent < s.count; sent += 1) {
  if (sent > 0) {
    await pause(s.intervalMs);
    sellSome();
  }
  const out = await publish(s, { tours, at: Date.now() }, 'the next update carries the full state');
  if (out) {
    const kept = out.offset ? `  (offset ${out.offset})` : '  (no history kept: start the gateway with CHANNELS_FILE=deploy/channels.example.json)';
    console.log(`${tours.map((t) => `${t.id} ${t.seats}/${t.capacity}`).join('  ')}${kept}`);
  }
  if (tours.every((t) => t.seats === 0)) {
    console.log('all tours sold out');
    break;
  }
}
