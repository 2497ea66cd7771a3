/**
 * The online panel and the directory search. Which presence feed the socket is on, and the
 * list behind the panel, are PresenceFeed's (presence-feed.ts); this file draws them.
 *
 * Two modes, as the gateway's `*` feed has:
 * - Listed (at most PRESENCE_LIST_MAX users online cluster-wide): the full online list, live,
 *   with its count (`#online-list[data-mode="listed"]`). Ids carry no names: the page asks the
 *   `users` command for them (Profiles.fill) and labels the list as answers come in.
 * - Counted (more than that): the count only, no list (`data-mode="counted"`), and the note
 *   "Too many people online to list: search to see who is". The search results stay live: the
 *   feed watches exactly those users (with counts) after every search answer.
 * - Names and pictures change live with `profile` frames (Profiles.onChange).
 * - Search: debounced 250 ms, sent as the `search` command; badges flip with presence changes
 *   in both modes; the last query runs again after every reconnect. Only the newest answer is
 *   shown (and followed).
 * - Clicking a person (not yourself) in either list calls `open(userId)`: the chat opens a
 *   direct conversation with them.
 */
import { RequestError, type RealtimeClient, type SearchUser } from '../../client/src/index.js';
import { byId, el } from './dom.js';
import { personRow } from './person.js';
import { PresenceFeed } from './presence-feed.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

const SEARCH_DEBOUNCE_MS = 250;
const MAX_LISTED = 500;
export const COUNTED_NOTE = 'Too many people online to list: search to see who is.';

function badge(online: boolean): HTMLSpanElement {
  return el('span', { className: `badge ${online ? 'on' : 'off'}`, text: online ? 'online' : 'offline' });
}

/** Wires the people panels to `client` until `signal` aborts. */
export function mountPeople(client: RealtimeClient, roster: Roster, profiles: Profiles, signal: AbortSignal, open: (userId: string) => void): void {
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
  const feed = new PresenceFeed(client, roster, profiles);
  const stopFeed = feed.start();

  const openFor = (id: string) => (id === client.user?.id ? undefined : open);

  function renderOnline(): void {
    const me = client.user?.id;
    const people = roster.list(); // empty while counted
    count.textContent = String(roster.count());
    list.dataset.mode = roster.listed ? 'listed' : 'counted';
    list.replaceChildren(...people.slice(0, MAX_LISTED).map((p) =>
      personRow({ id: p.id, label: p.id === me ? `${p.label} (you)` : p.label, handle: p.username, picture: p.avatarUrl }, openFor(p.id))));
    const more = people.length > MAX_LISTED ? `and ${people.length - MAX_LISTED} more` : '';
    note.textContent = roster.listed ? more : COUNTED_NOTE;
  }

  function renderResults(): void {
    results.replaceChildren(...found.map((u) => personRow({ id: u.id, label: roster.label(u.id), handle: u.username, picture: roster.avatar(u.id) }, openFor(u.id), [badge(feed.online(u.id) ?? u.online)])));
  }

  async function search(q: string): Promise<void> {
    query = q;
    const mine = ++seq;
    searchNote.textContent = '';
    if (!q) {
      found = [];
      feed.follow(found);
      return renderResults();
    }
    try {
      const res = await client.request({ type: 'search', q, limit: 20 });
      if (mine !== seq) return;
      found = res.users;
      feed.follow(found); // while counted: watched from now on
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

  const offs = [
    stopFeed,
    feed.onChange(() => {
      renderOnline();
      renderResults();
    }),
    client.on('welcome', () => {
      if (query) void search(query);
    }),
    profiles.onChange(() => {
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
    input.value = '';
    for (const node of [list, results]) node.replaceChildren();
    for (const node of [note, searchNote]) node.textContent = '';
    count.textContent = '0';
    delete list.dataset.mode;
  });
}
