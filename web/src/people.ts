/**
 * The online list and the directory search, kept live by presence frames.
 *
 * The page keeps the default `*` presence feed (it never sends `watch`): it shows the full
 * online list, so it needs every change anyway. Narrowing with `watch` is for pages that show
 * only a few users (a contact list, a search result) without a full list.
 *
 * - Online list: rebuilt from each welcome and each `presence_reset` (ids, then pages of the
 *   `online` command), then updated by presence changes; never needs a reload. Ids carry no
 *   names: the page asks the `users` command for them (Profiles.fill) and labels the list with
 *   display names and pictures as answers come in.
 * - Names and pictures change live with `profile` frames (Profiles.onChange).
 * - Search: debounced 250 ms, sent as the `search` command; badges flip with presence changes;
 *   the last query runs again after every reconnect. Only the newest answer is shown.
 * - Clicking a person (not yourself) in either list calls `open(userId)`: the chat opens a
 *   direct conversation with them.
 */
import type { OnlinePage, SearchResult, SearchUser } from '../../shared/protocol.js';
import { RequestError, type GatewayClient } from './client.js';
import { byId, el } from './dom.js';
import { personRow } from './person.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

const SEARCH_DEBOUNCE_MS = 250;
const MAX_LISTED = 500;

function badge(online: boolean): HTMLSpanElement {
  return el('span', { className: `badge ${online ? 'on' : 'off'}`, text: online ? 'online' : 'offline' });
}

/** Wires the people panels to `client` until `signal` aborts. */
export function mountPeople(client: GatewayClient, roster: Roster, profiles: Profiles, signal: AbortSignal, open: (userId: string) => void): void {
  const list = byId<HTMLUListElement>('online-list');
  const count = byId('online-count');
  const note = byId('online-note');
  const input = byId<HTMLInputElement>('search-q');
  const results = byId<HTMLUListElement>('search-results');
  const searchNote = byId('search-note');
  let found: SearchUser[] = [];
  let query = '';
  let seq = 0;
  let debounce: ReturnType<typeof setTimeout> | undefined;

  const openFor = (id: string) => (id === client.welcome?.user.id ? undefined : open);

  function renderOnline(): void {
    const me = client.welcome?.user.id;
    const people = roster.list();
    count.textContent = String(roster.count());
    list.replaceChildren(...people.slice(0, MAX_LISTED).map((p) =>
      personRow({ id: p.id, label: p.id === me ? `${p.label} (you)` : p.label, handle: p.username, picture: p.avatarUrl }, openFor(p.id))));
    note.textContent = people.length > MAX_LISTED ? `and ${people.length - MAX_LISTED} more` : '';
  }

  function renderResults(): void {
    results.replaceChildren(...found.map((u) => personRow({ id: u.id, label: roster.label(u.id), handle: u.username, picture: roster.avatar(u.id) }, openFor(u.id), [badge(u.online)])));
  }

  async function search(q: string): Promise<void> {
    query = q;
    const mine = ++seq;
    searchNote.textContent = '';
    if (!q) {
      found = [];
      return renderResults();
    }
    try {
      const res = await client.request<SearchResult>({ type: 'search', q, limit: 20 });
      if (mine !== seq) return;
      found = res.users;
      searchNote.textContent = found.length === 0 ? 'No one matches.' : `${found.length} found`;
      for (const u of found) roster.learnProfile(u);
      renderOnline(); // names learned from the search may label ids of the online list
    } catch (err) {
      if (mine !== seq) return;
      const offline = err instanceof RequestError && err.code === 'disconnected';
      searchNote.textContent = offline ? 'Search runs again once reconnected.' : `Search failed: ${(err as Error).message}`;
    }
    renderResults();
  }

  /** A new snapshot (welcome or presence_reset): show it, name it, page the rest. */
  async function restart(online: string[], cursor: string | undefined): Promise<void> {
    renderOnline();
    void profiles.fill(online);
    const generation = roster.generation;
    while (cursor && generation === roster.generation) {
      try {
        const page = await client.request<OnlinePage>({ type: 'online', cursor });
        roster.addPage(generation, page.users, !page.cursor);
        void profiles.fill(page.users);
        cursor = page.cursor;
      } catch (err) {
        if (!(err instanceof RequestError && err.code === 'disconnected')) note.textContent = 'The list may be incomplete.';
        return; // a reconnect brings a new welcome and starts over
      }
      renderOnline();
    }
  }

  const offs = [
    client.on('welcome', (welcome) => {
      roster.reset(welcome);
      void restart(welcome.online, welcome.onlineCursor);
      if (query) void search(query);
    }),
    client.on('presenceReset', (reset) => {
      roster.replace(reset.online, reset.onlineCursor);
      void restart(reset.online, reset.onlineCursor);
    }),
    profiles.onChange(() => {
      renderOnline();
      renderResults();
    }),
    client.on('presence', ({ changes }) => {
      roster.apply(changes);
      void profiles.fill(changes.filter((c) => c.status === 'online').map((c) => c.userId));
      for (const c of changes) {
        const hit = found.find((u) => u.id === c.userId);
        if (hit) hit.online = c.status === 'online';
      }
      renderOnline();
      renderResults();
    }),
  ];

  input.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void search(input.value.trim()), SEARCH_DEBOUNCE_MS);
  }, { signal });
  signal.addEventListener('abort', () => {
    clearTimeout(debounce);
    for (const off of offs) off();
    roster.clear();
    input.value = '';
    for (const node of [list, results]) node.replaceChildren();
    for (const node of [note, searchNote]) node.textContent = '';
    count.textContent = '0';
  });
}
