/**
 * The page: sign in, then one RealtimeClient (the client package) per session wired to the status line, the people
 * panels, the chat and the profile editor. Signing out (or an expired session) stops the
 * client with close code 1000, clears the stored token and drops everything the session showed.
 *
 * - The token is renewed on `token_expiring` (browser.ts); only when that fails does a banner
 *   say when the session ends.
 * - Profiles: the welcome's `user` is the signed-in user's current profile; `profile` frames
 *   update names and pictures everywhere (Profiles notifies every panel).
 * - When the client stops for good (token expired or revoked, or the backend disconnected the
 *   user: close 4003), the session ends as on sign-out and the form says why, with the reason
 *   as `#signin-message[data-reason]` ('expired', 'unauthorized', 'disconnected'). The page
 *   does not reconnect by itself; signing in again starts a new client.
 *
 * For tests and operators, <body> carries data-state (connection state), data-node (the
 * gateway node of the current link), data-transport ('websocket', or 'http' on the fallback) and data-close-code (the code this page last closed with).
 */
import type { ClosedInfo, RealtimeClient } from '../../client/src/index.js';
import { clearSession, loadSession, saveSession, type Session } from './auth.js';
import { browserClient } from './browser.js';
import { avatar, byId } from './dom.js';
import { mountChat } from './chat.js';
import { mountPeople } from './people.js';
import { mountProfileEditor } from './profile-editor.js';
import { Profiles } from './profiles.js';
import { Roster } from './roster.js';
import { createSignIn, type Tone } from './signin.js';
import { createStatusView, followClient } from './status.js';

/** What the sign-in form says when the session ended by itself. */
const ENDED: Record<Exclude<ClosedInfo['reason'], 'client'>, string> = {
  expired: 'Your session expired. Please sign in again.',
  unauthorized: 'Your session expired or was revoked. Please sign in again.',
  disconnected: 'Disconnected by the server. Please sign in again.',
};

const status = createStatusView();
const app = byId('app');
const me = byId('me');
const meName = byId('me-name');
const meAvatar = byId('me-avatar');
const nodeLabel = byId('node');
const banner = byId('banner');
let current: { session: Session; client: RealtimeClient; stop: () => void; done: AbortController } | undefined;

const signIn = createSignIn((session) => {
  saveSession(localStorage, session);
  begin(session);
});

/** Keep the stored session in step (token, profile), so the next load starts from it. */
function store(session: Session): void {
  if (!current) return;
  current.session = session;
  saveSession(localStorage, session);
}

function begin(session: Session): void {
  const done = new AbortController();
  const { client, stop } = browserClient({
    session: () => current?.session,
    store,
    refreshed: () => {
      banner.hidden = true;
    },
    failed: () => {
      const at = new Date(current?.session.expiresAt ?? Date.now()).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      banner.textContent = `Your session ends at ${at}. Sign out and in again to continue.`;
      banner.hidden = false;
    },
  });
  current = { session, client, stop, done };
  signIn.hide();
  app.hidden = me.hidden = false;
  const roster = new Roster(client.presence);
  const profiles = new Profiles(roster, async (ids) => (await client.request({ type: 'users', ids })).users);
  roster.learnProfile(session.user);
  const myId = () => current?.session.user.id ?? session.user.id;
  const renderMe = () => {
    const label = roster.label(myId());
    meName.textContent = `${label} (@${roster.profile(myId())?.username ?? session.user.username})`;
    meAvatar.replaceChildren(avatar(label, roster.avatar(myId())));
  };
  renderMe();

  followClient(client, status);
  client.on('welcome', (w) => {
    document.body.dataset.node = w.node;
    document.body.dataset.transport = client.transport;
    nodeLabel.textContent = `node: ${w.node}${client.transport === 'http' ? ' (HTTP fallback)' : ''}`;
    profiles.learn(w.user);
  });
  client.on('profile', (user) => profiles.learn(user));
  profiles.onChange((ids) => {
    if (!ids.includes(myId()) || !current) return;
    const fresh = roster.profile(myId());
    if (fresh) store({ ...current.session, user: fresh });
    renderMe();
  });
  client.on('closed', (c) => {
    if (c.reason !== 'client') end(ENDED[c.reason], 'warning', c.reason);
  });
  // A click on a person opens a direct conversation in the chat (mounted next; clicks come later).
  mountPeople(client, roster, profiles, done.signal, (userId) => chat.openDirect(userId));
  const chat = mountChat(client, roster, profiles, done.signal, myId);
  mountProfileEditor({ token: () => current?.session.accessToken, me: () => current?.session.user, learned: (u) => profiles.learn(u) }, profiles, done.signal);
  void client.connect().catch(() => {}); // a session that ends before its first welcome: 'closed' says why
}

/** End the session: close 1000, forget the token, show the form with `message` (and why: `reason`). */
function end(message: string, tone: Tone, reason?: string): void {
  if (!current) return;
  const { stop, done } = current;
  current = undefined;
  stop();
  document.body.dataset.closeCode = '1000';
  done.abort();
  clearSession(localStorage);
  app.hidden = me.hidden = banner.hidden = true;
  nodeLabel.textContent = 'node: –';
  delete document.body.dataset.node;
  delete document.body.dataset.transport;
  status.show({ state: 'signed-out' });
  signIn.show(message, tone, reason);
}

byId('signout').addEventListener('click', () => end('You signed out.', 'info'));

const stored = loadSession(localStorage, Date.now());
if (stored) begin(stored);
else {
  status.show({ state: 'signed-out' });
  signIn.show();
}
