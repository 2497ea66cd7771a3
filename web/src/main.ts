/**
 * The page: sign in, then one GatewayClient per session wired to the status line, the people
 * panels and the chat. Signing out (or an expired session) stops the client with close code
 * 1000, clears the stored token and drops everything the session showed.
 *
 * For tests and operators, <body> carries data-state (connection state), data-node (the
 * gateway node of the current link) and data-close-code (the code this page last closed with).
 */
import { CloseCodes } from '../../shared/protocol.js';
import { clearSession, loadSession, saveSession, type Session } from './auth.js';
import { GatewayClient } from './client.js';
import { byId } from './dom.js';
import { mountChat } from './chat.js';
import { mountPeople } from './people.js';
import { Roster } from './roster.js';
import { createSignIn, type Tone } from './signin.js';
import { createStatusView } from './status.js';

const status = createStatusView();
const app = byId('app');
const me = byId('me');
const meName = byId('me-name');
const nodeLabel = byId('node');
const banner = byId('banner');
let current: { session: Session; client: GatewayClient; done: AbortController } | undefined;

const signIn = createSignIn((session) => {
  saveSession(localStorage, session);
  begin(session);
});

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

function begin(session: Session): void {
  const done = new AbortController();
  const client = new GatewayClient({
    url: wsUrl(),
    meUrl: '/api/me',
    token: () => current?.session.accessToken,
    WebSocket,
    fetch: (url, init) => fetch(url, { ...init, cache: 'no-store' }),
    timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as number) },
    random: Math.random,
    now: Date.now,
  });
  current = { session, client, done };
  signIn.hide();
  app.hidden = me.hidden = false;
  meName.textContent = `${session.user.displayName} (@${session.user.username})`;
  const roster = new Roster();
  client.on('status', (s) => status.show(s));
  client.on('welcome', (w) => {
    document.body.dataset.node = w.node;
    nodeLabel.textContent = `node: ${w.node}`;
  });
  client.on('closed', (c) => {
    if (c.byClient) document.body.dataset.closeCode = String(c.code);
  });
  client.on('authFailure', (f) => end(f.message, 'warning'));
  client.on('tokenExpiring', (t) => {
    const at = new Date(t.expiresAt).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    banner.textContent = `Your session ends at ${at}. Sign out and in again to continue.`;
    banner.hidden = false;
  });
  mountPeople(client, roster, done.signal);
  mountChat(client, roster, done.signal);
  window.addEventListener('online', () => client.retryNow(), { signal: done.signal });
  client.start();
}

/** End the session: close 1000, forget the token, show the form with `message`. */
function end(message: string, tone: Tone): void {
  if (!current) return;
  const { client, done } = current;
  current = undefined;
  client.stop(CloseCodes.normal, 'signed out');
  done.abort();
  clearSession(localStorage);
  app.hidden = me.hidden = banner.hidden = true;
  nodeLabel.textContent = 'node: –';
  delete document.body.dataset.node;
  status.show({ state: 'signed-out' });
  signIn.show(message, tone);
}

byId('signout').addEventListener('click', () => end('You signed out.', 'info'));

const stored = loadSession(localStorage, Date.now());
if (stored) begin(stored);
else {
  status.show({ state: 'signed-out' });
  signIn.show();
}
