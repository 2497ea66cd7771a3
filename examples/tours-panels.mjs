// Tour availability, one action per tour: the publisher of the React dashboard
// (examples/react/, served at /react.html). The same three tours as tours.mjs, seats going down
// at random every INTERVAL_MS until all are sold out, but each tour's state goes to an action of
// its own, and every sale to a feed:
//
//   <ACTION>alps, <ACTION>fjords, <ACTION>sahara   {"id","name","seats","capacity","at"}: the FULL
//                                                    state of that tour (history: 1 = current state)
//   <ACTION>sales                                   {"tour","name","sold","seats","at"}: one sale
//
// ACTION is a prefix here, `live:tour-` by default (so `live:tour-alps`, …, `live:tour-sales`):
// with deploy/channels.example.json the `live` namespace takes backend publishes only and keeps
// the last message for an hour. Plain Node.js 20, no dependencies.
//
//   API_KEY=<one of the gateway's API_KEYS> npm run demo:react
//
// The first round publishes every tour's initial state; each later round sells one to three
// seats of one tour (its new state, then the sale). COUNT counts rounds (default: until sold out).
// Environment and exit codes: see publish.mjs.
import { pause, publish, settings } from './publish.mjs';

const s = settings('live:tour-');

const tours = [
  { id: 'alps', name: 'Alps trek', seats: 12, capacity: 12 },
  { id: 'fjords', name: 'Fjords by boat', seats: 8, capacity: 8 },
  { id: 'sahara', name: 'Sahara nights', seats: 10, capacity: 10 },
];

/** Publish `data` to `<prefix><suffix>`; prints one line. */
async function send(suffix, data, line) {
  const out = await publish({ ...s, action: `${s.action}${suffix}` }, data, 'the next round carries the state again');
  if (out) console.log(`${s.action}${suffix} ← ${line}${out.offset ? `  (offset ${out.offset})` : '  (no history kept)'}`);
}

const state = (t) => ({ id: t.id, name: t.name, seats: t.seats, capacity: t.capacity, at: Date.now() });

for (let round = 0; round < s.count; round += 1) {
  if (round === 0) {
    for (const t of tours) await send(t.id, state(t), `${t.seats}/${t.capacity}`);
  } else {
    await pause(s.intervalMs);
    const open = tours.filter((t) => t.seats > 0);
    const tour = open[Math.floor(Math.random() * open.length)];
    const sold = Math.min(tour.seats, 1 + Math.floor(Math.random() * 3));
    tour.seats -= sold;
    await send(tour.id, state(tour), `${tour.seats}/${tour.capacity}`);
    await send('sales', { tour: tour.id, name: tour.name, sold, seats: tour.seats, at: Date.now() }, `${sold} × ${tour.id}`);
  }
  if (tours.every((t) => t.seats === 0)) {
    console.log('all tours sold out');
    break;
  }
}
