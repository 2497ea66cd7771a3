/**
 * The operator's page (/admin): sign in with a directory user that is an operator, then watch the
 * cluster live and act on it. The page holds no token: the session is an HttpOnly cookie the
 * browser sends by itself, and the CSRF token lives in memory only. A 401 anywhere (signed out
 * elsewhere, expired, no longer an operator) returns to the sign-in form.
 */
import { AdminApi, explain } from './api.js';
import { Channels } from './channels.js';
import { NodeCharts } from './charts.js';
import { byId } from './dom.js';
import { EventTail } from './events.js';
import { openFeed } from './feed.js';
import { renderNodes } from './nodes.js';
import type { ClusterEvent, Operator } from './types.js';
import { OnlineUsers } from './users.js';

const api = new AdminApi();
let feed: { close(): void } | undefined;

function signedOut(message = '', tone = 'info'): void {
  feed?.close();
  feed = undefined;
  document.body.dataset.state = 'signed-out';
  byId('console').hidden = true;
  byId('me').hidden = true;
  byId('signin').hidden = false;
  const m = byId('signin-message');
  m.textContent = message;
  m.dataset.tone = tone;
}

/** The page's parts, made once; `start` opens a feed onto them after each sign-in. */
function parts() {
  const charts = new NodeCharts({ connections: byId('chart-connections'), messages: byId('chart-messages') });
  const channels = new Channels(api);
  const users = new OnlineUsers(api, (action) => void channels.open(action));
  const tail = new EventTail();
  return { charts, channels, users, tail };
}

function start(me: Operator, csrf: string, p: ReturnType<typeof parts>): void {
  api.setCsrf(csrf);
  document.body.dataset.state = 'connecting';
  byId('signin').hidden = true;
  byId('console').hidden = false;
  byId('me').hidden = false;
  byId('me-name').textContent = `${me.displayName} (@${me.username})`;
  const { charts, channels, users, tail } = p;
  let servedBy = '';
  let count = -1;
  const changed = (events: ClusterEvent[]) => {
    if (!tail.add(events)) return;
    users.refresh();
    if (events.some((e) => e.type === 'joined' || e.type === 'left')) channels.refresh();
  };
  feed?.close();
  feed = openFeed({
    hello: (h) => {
      servedBy = h.node;
      byId('node').textContent = `feed from node ${h.node}`;
      renderNodes(h.nodes, servedBy);
      charts.load(h.series);
      users.setCount((count = h.onlineCount));
      changed(h.events);
      users.refresh();
      void channels.read();
    },
    stats: (s) => {
      renderNodes(s.nodes, servedBy);
      charts.add(s.samples);
      if (s.onlineCount === count) return;
      users.setCount((count = s.onlineCount));
      users.refresh();
      channels.refresh();
    },
    events: changed,
    state: (live) => (document.body.dataset.state = live ? 'connected' : 'reconnecting'),
  });
}

async function signIn(ev: SubmitEvent, p: ReturnType<typeof parts>): Promise<void> {
  ev.preventDefault();
  const username = byId<HTMLInputElement>('username');
  const password = byId<HTMLInputElement>('password');
  const submit = byId<HTMLButtonElement>('signin-submit');
  submit.disabled = true;
  const r = await api.post<{ user: Operator; csrf: string }>('signin', { username: username.value.trim(), password: password.value });
  submit.disabled = false;
  password.value = '';
  if (r.status === 200) return start(r.body.user, r.body.csrf, p);
  signedOut(r.status === 403 ? 'This account is not an operator.' : explain(r), r.status === 429 ? 'warning' : 'error');
  byId('signin-message').dataset.status = String(r.status);
}

async function boot(): Promise<void> {
  api.onSignedOut = () => signedOut('Your session ended: sign in again.', 'warning');
  const p = parts();
  byId<HTMLFormElement>('signin-form').addEventListener('submit', (ev) => void signIn(ev, p));
  byId('signout').addEventListener('click', async () => {
    await api.post('signout', {});
    signedOut('Signed out.');
  });
  const r = await api.get<{ user: Operator; csrf: string }>('session');
  if (r.status === 200) start(r.body.user, r.body.csrf, p);
  else signedOut();
}

void boot();
