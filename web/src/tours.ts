/**
 * The tour-availability dashboard (/tours.html), fed by examples/tours.mjs through the
 * publish API.
 *
 * - Uses the session the main page keeps in localStorage; without one it links to / to sign in.
 * - Joins `tours` with `history: 1`: the last message (the full state) arrives before the ack,
 *   then live updates. The client repeats that join after every reconnect, so the board is
 *   current again after a drop. The ack's `delivered` says whether there was a state at all:
 *   0 → "no state yet" (the demo is not running); absent → the gateway keeps no history for
 *   `tours` (HISTORY_ACTIONS lacks `tours=1/1h`), so the board fills at the next update only.
 */
import { clearSession, loadSession, saveSession } from './auth.js';
import { browserClient } from './browser.js';
import type { JoinResult } from './client.js';
import { byId, el } from './dom.js';
import { createStatusView } from './status.js';
import { parseTours, TOURS_ACTION, type ToursState } from './tours-data.js';

const status = createStatusView();
const board = byId<HTMLUListElement>('tours');
const note = byId('board-note');
const updated = byId('updated');
const signedOut = byId('signed-out');

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
}

function hint(result: JoinResult): void {
  if (result.delivered === undefined) {
    note.textContent = 'This gateway keeps no history for "tours" (start it with HISTORY_ACTIONS=tours=1/1h): seats show at the next update.';
  } else if (result.delivered === 0) {
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
  client.on('status', (s) => status.show(s));
  client.on('message', (msg) => {
    const state = msg.action === TOURS_ACTION ? parseTours(msg.data) : undefined;
    if (state) render(state);
  });
  client.on('joined', ({ action, result }) => {
    if (action === TOURS_ACTION) hint(result);
  });
  client.on('authFailure', (f) => {
    stop();
    clearSession(localStorage);
    signInFirst(f.message);
  });
  client.start();
  client.join(TOURS_ACTION, { history: 1 }).catch((err: Error & { code?: string }) => {
    if (err.code !== 'disconnected') note.textContent = `Cannot follow the tours: ${err.message}`; // disconnected: joined at the welcome
  });
}
