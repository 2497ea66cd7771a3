/**
 * Who is in the chat's current room, live, beside the messages (rooms with room presence).
 *
 * - The list is the channel's (`channel.members()`: every page, then `room` events applied by
 *   their seq, read again on `room_reset`), read when the room is shown and the join was
 *   acknowledged, and again after every (re)join of that room (each reconnect).
 * - Names and pictures: the pages carry profiles; users arriving by a `room` event are named
 *   by their username at once, then by their profile (the `users` command, Profiles.fill).
 * - A namespace without room presence answers `forbidden`: the panel says so instead of a list.
 * - Clicking a member (not yourself) calls `open(userId)`: a direct conversation.
 * - Removed from the room by the backend (a `left` frame): no list (a non-member sees none),
 *   a note with the server's reason, until the room is joined again.
 *
 * For tests: `#members[data-room]` is the room shown, `data-members` is `loading`, `ready`,
 * `off` (no room presence there), `left` (removed from it) or `none` (no room).
 */
import { RequestError, type Channel, type RealtimeClient } from '../../client/src/index.js';
import { byId } from './dom.js';
import { personRow } from './person.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

export interface MembersPanel {
  /** Show the members of `room` (undefined: no room selected). */
  show(room: string | undefined): void;
}

type State = 'none' | 'loading' | 'ready' | 'off' | 'left';

/** Most members shown; a larger room says "and N more" (the count is exact). */
const MAX_LISTED = 300;

export function mountMembersPanel(
  client: RealtimeClient, roster: Roster, profiles: Profiles, signal: AbortSignal, open: (userId: string) => void, me: () => string,
): MembersPanel {
  const panel = byId('members');
  const list = byId<HTMLUListElement>('member-list');
  const count = byId('members-count');
  const note = byId('members-note');
  /** Rooms whose join the server acknowledged on the current connection: only members may ask. */
  const acked = new Set<string>();
  /** Rooms the backend removed this user from (`left`), with the reason, until joined again. */
  const removed = new Map<string, string>();
  let view: Channel | undefined;
  let offRoom: (() => void) | undefined;
  let state: State = 'none';
  /** A refusal or failure to show instead of "and N more". */
  let problem = '';
  /** While a read is on its way: users a room event named (their entry is a username, not a profile). */
  let named: Set<string> | undefined;

  function render(): void {
    const self = me();
    panel.dataset.members = state;
    if (view) panel.dataset.room = view.name;
    else delete panel.dataset.room;
    panel.hidden = state === 'none';
    const ids = state === 'off' || state === 'left' || !view ? [] : view.memberList().map((u) => u.id);
    const people = ids.map((id) => ({ id, label: roster.label(id) })).sort((a, b) => a.label.localeCompare(b.label, undefined, { sensitivity: 'base' }));
    list.replaceChildren(...people.slice(0, MAX_LISTED).map((p) => personRow(
      { id: p.id, label: p.id === self ? `${p.label} (you)` : p.label, handle: roster.username(p.id), picture: roster.avatar(p.id) },
      p.id === self ? undefined : open)));
    count.textContent = state === 'ready' && view ? String(ids.length) : '–';
    note.textContent = problem || (people.length > MAX_LISTED ? `and ${people.length - MAX_LISTED} more` : '');
  }

  function showRemoved(reason: string): void {
    state = 'left';
    problem = `You were removed from this room by the server (${reason}).`;
    render();
  }

  async function read(): Promise<void> {
    const target = view;
    if (!target || !acked.has(target.name)) return;
    state = 'loading';
    problem = '';
    render();
    const byEvent = (named = new Set());
    try {
      const users = await target.members();
      if (target !== view) return;
      for (const u of users) if (!byEvent.has(u.id)) roster.learnProfile(u);
      state = 'ready';
    } catch (err) {
      if (target !== view) return;
      const code = err instanceof RequestError ? err.code : undefined;
      if (code === 'disconnected' || code === 'not_member') return; // the next (re)join reads again
      state = code === 'forbidden' ? 'off' : 'ready';
      problem = code === 'forbidden' ? `No member list here: ${(err as Error).message}.` : `The member list may be incomplete: ${(err as Error).message}`;
    } finally {
      if (named === byEvent) named = undefined;
    }
    render();
  }

  /** Room events of the shown channel keep the list live (the channel applies them by seq). */
  function follow(ch: Channel | undefined): void {
    offRoom?.();
    offRoom = ch?.on('room', (changes) => {
      for (const c of changes) {
        roster.learn(c.userId, c.username);
        if (c.status === 'joined') named?.add(c.userId);
      }
      void profiles.fill(changes.filter((c) => c.status === 'joined').map((c) => c.userId));
      if (state === 'ready') render();
    });
  }

  const offs = [
    client.on('joined', ({ action, result }) => {
      if (!result.joined) return;
      acked.add(action);
      removed.delete(action);
      if (action === view?.name) void read();
    }),
    client.on('state', (s) => s !== 'connected' && acked.clear()), // the list stays (dimmed) until the re-join reads it again
    client.on('left', ({ action, reason }) => {
      acked.delete(action);
      removed.set(action, reason);
      if (action === view?.name) showRemoved(reason);
    }),
    profiles.onChange(() => render()),
  ];
  signal.addEventListener('abort', () => {
    for (const off of offs) off();
    follow(undefined);
    view = undefined;
    state = 'none';
    problem = '';
    render();
  });

  return {
    show(room) {
      if (room === view?.name) return;
      view = room === undefined ? undefined : client.channel(room);
      follow(view);
      const gone = room === undefined ? undefined : removed.get(room);
      if (gone !== undefined) return showRemoved(gone);
      state = view ? 'loading' : 'none';
      problem = '';
      render();
      void read();
    },
  };
}
