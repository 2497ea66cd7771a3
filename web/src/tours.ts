/**
 * The tour-availability dashboard (/tours.html), fed by examples/tours.mjs through the
 * publish API.
 *
 * - Uses the session the main page keeps in localStorage; without one it links to / to sign in.
 * - Joins `live:tours` with `history: 1`: the last message (the full state) arrives before the
 *   ack, then live updates. After a reconnect the client re-joins from the position it holds
 *   (`since` + `epoch`: exactly the updates missed); when those are no longer kept it joins
 *   with `history: 1` again (the client package), so the board is current again after any drop.
 * - Believes only the backend: a message counts only when stamped `from: {system: true}`
 *   (tours-data.ts); a state a user published is ignored.
 * - The first ack drives a hint: no state shown by then → "no state yet" (the demo is not
 *   running, or the last message was not the backend's); no `offset` in the ack → the gateway
 *   keeps no history for `live:tours`, so the board fills at the next update only.
 */
import { clearSession, loadSession, saveSession } from './auth.js';
import { browserClient } from './browser.js';
import type { JoinResult } from '../../client/src/index.js';
import { byId, el } from './dom.js';
import { createStatusView, followClient } from './status.js';
import { toursState, TOURS_ACTION, type ToursState } from './tours-data.js';

const status = createStatusView();
const board = byId<HTMLUListElement>('tours');
const note = byId('board-note');
const updated = byId('updated');
const signedOut = byId('signed-out');
let shown = false;

function render(state: ToursState): void {
  board.replaceChildren(...state.tours.map((t) => el('li', { className: `tour${t.seats === 0 ? ' sold-out' : ''}`, attrs: { 'data-tour': t.id } },
    el('span', { className: 'tour-name', text: t.name }),
    el('span', { className: 'seats', text: String(t.seats) }),
    el('span', { className: 'of', text: t.seats === 0 ? 'sold out' : `of ${t.capacity} seats left` }),
    el('meter', { attrs: { min: '0', max: String(t.capacity), value: String(t.seats), 'aria-label': `${t.name}: ${t.seats} of ${t.capacity} seats left` } }))));
  const at = new Date(state.at ?? Date.now()).toLocaleTimeString();
  updated.textContent = `Updated ${at}`;
  note.textContent = '';
  document.body.dataset.tours = 'live';
  shown = true;
}

function hint(result: JoinResult): void {
  if (shown) return;
  if (result.offset === undefined) {
    note.textContent = `This gateway keeps no history for "${TOURS_ACTION}" (start it with CHANNELS_FILE=deploy/channels.example.json): seats show at the next update.`;
  } else {
    note.textContent = 'No state yet: start the demo with `npm run demo:tours` (see examples/README.md).';
    document.body.dataset.tours = 'empty';
  }
}

function signInFirst(message: string): void {
  status.show({ state: 'signed-out' });
  signedOut.hidden = false;
  signedOut.firstChild!.textContent = `${message} `;
}

const stored = loadSession(localStorage, Date.now());
if (!stored) signInFirst('You are not signed in.');
else {
  let session = stored;
  const { client, stop } = browserClient({
    session: () => session,
    store: (s) => {
      session = s;
      saveSession(localStorage, s);
    },
  });
  followClient(client, status);
  const tours = client.channel(TOURS_ACTION);
  tours.on('message', (msg) => {
    const state = toursState(msg);
    if (state) render(state);
  });
  tours.on('joined', ({ result }) => hint(result));
  client.on('closed', (c) => {
    if (c.reason === 'client') return;
    stop();
    clearSession(localStorage);
    signInFirst(c.message);
  });
  void client.connect().catch(() => {});
  tours.join({ history: 1 }).catch((err: Error & { code?: string }) => {
    if (err.code !== 'disconnected') note.textContent = `Cannot follow the tours: ${err.message}`;
  });
}
