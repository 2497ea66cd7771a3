/**
 * Chat per action: join rooms by name, read and send messages in the selected one.
 *
 * - Joined rooms are kept joined by the client across reconnects (`client.channel(room).join()`).
 * - Sending publishes `{ text }` with `echo: true`: the page renders only the server's stamped
 *   copy, so what the sender sees is what everyone got, in the server's order.
 * - A message counts as "yours" when `from.userId` is the signed-in user's id; messages from a
 *   backend (`from: {system: true}`, the publish API) show "system" as their sender.
 * - Senders show their current display name and picture: lines re-label on `profile` changes.
 * - After a reconnect the client re-joins every room in one frame (with `since` where the server
 *   keeps history); the page says whether missed messages were recovered or may be missing
 *   (rooms without history are at-most-once).
 * - Beside the messages, who is in the current room, live (members-panel.ts).
 * - Direct conversations: `openDirect(userId)` (a click on a person) joins `dm#<both ids,
 *   sorted>` (direct.ts), a room only the two may join, shown in the rooms bar by the other
 *   user's name. The other user sees it once they open it too (a message reaches only members).
 * - A refused join shows the server's message (e.g. a `dm#` of two other users: forbidden).
 * - A room the backend removed this user from (a `left` frame) stays in the rooms bar, marked
 *   `data-left="<reason>"`, with a notice in its log; it is not re-joined after a reconnect and
 *   takes no messages until the user joins it again by name.
 */
import type { JoinResult, RealtimeClient } from '../../client/src/index.js';
import { ACTION_NAME } from '../../shared/protocol.js';
import { directAction, directPeer } from './direct.js';
import { avatar, byId, el } from './dom.js';
import { mountMembersPanel } from './members-panel.js';
import type { Profiles } from './profiles.js';
import type { Roster } from './roster.js';

const KEEP_PER_ROOM = 200;

/** `notice`: the page's own remark; `message`: from `userId`, or from a backend when `system`. */
interface Line { kind: 'message' | 'notice'; text: string; userId?: string; system?: boolean; mine?: boolean; ts: number }

function messageText(data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { text?: unknown }).text === 'string') {
    return (data as { text: string }).text;
  }
  return typeof data === 'string' ? data : JSON.stringify(data);
}

function recoveryNote(result: JoinResult): string | undefined {
  if (result.recovered === true) return result.delivered ? `Recovered ${result.delivered} missed message${result.delivered === 1 ? '' : 's'}.` : undefined;
  if (result.recovered === false) return 'Some messages sent meanwhile are no longer available.';
  return 'Messages sent meanwhile may be missing.';
}

export interface Chat {
  /** Open (join and show) the direct conversation with `userId`. */
  openDirect(userId: string): void;
}

/** Wires the chat panel to `client` until `signal` aborts; `me()` is the signed-in user's id. */
export function mountChat(client: RealtimeClient, roster: Roster, profiles: Profiles, signal: AbortSignal, me: () => string): Chat {
  const joinForm = byId<HTMLFormElement>('join-form');
  const roomInput = byId<HTMLInputElement>('room');
  const roomsBar = byId('rooms');
  const log = byId<HTMLOListElement>('messages');
  const sendForm = byId<HTMLFormElement>('send-form');
  const compose = byId<HTMLInputElement>('compose');
  const sendButton = byId<HTMLButtonElement>('send');
  const notice = byId('chat-note');
  const rooms = new Map<string, Line[]>();
  /** Rooms the server has acknowledged on the current connection. */
  const joined = new Set<string>();
  /** Rooms the backend removed this user from, with the server's reason, until joined again. */
  const removed = new Map<string, string>();
  let current: string | undefined;
  let welcomes = 0;
  const members = mountMembersPanel(client, roster, profiles, signal, openDirect, me);
  /** `#room`, or the other user's name for a direct conversation. */
  const roomLabel = (room: string) => {
    const peer = directPeer(room, me());
    return peer === undefined ? `#${room}` : roster.label(peer);
  };

  const sender = (line: Line) => (line.system ? 'system' : roster.label(line.userId ?? ''));
  /** `@username` beside the display name, so a look-alike display name cannot pass for someone else. */
  const handle = (line: Line) => {
    const name = line.system || !line.userId ? undefined : roster.username(line.userId);
    return name && name !== sender(line) ? `@${name}` : '';
  };
  const senderAvatar = (line: Line) => (line.system ? avatar('system', undefined, 'avatar small system') : avatar(sender(line), roster.avatar(line.userId ?? ''), 'avatar small'));

  function lineNode(line: Line): HTMLLIElement {
    const time = new Date(line.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    if (line.kind === 'notice') return el('li', { className: 'line notice', text: line.text });
    const attrs: Record<string, string> = line.userId ? { 'data-user-id': line.userId } : {};
    return el('li', { className: `line${line.mine ? ' mine' : ''}${line.system ? ' from-system' : ''}`, attrs },
      el('span', { className: 'meta' },
        senderAvatar(line),
        el('span', { className: 'from', text: line.mine ? `${sender(line)} (you)` : sender(line) }),
        el('span', { className: 'handle', text: handle(line) }),
        el('time', { text: time, attrs: { datetime: new Date(line.ts).toISOString() } })),
      el('span', { className: 'text', text: line.text }));
  }

  /** Re-label the shown lines of users whose profile changed, in place (the log is a live region). */
  function relabel(ids: string[]): void {
    const changed = new Set(ids);
    const me = client.user?.id;
    for (const node of log.querySelectorAll<HTMLElement>('.line[data-user-id]')) {
      const userId = node.dataset.userId!;
      if (!changed.has(userId)) continue;
      const line: Line = { kind: 'message', text: '', userId, ts: 0 };
      const from = node.querySelector('.from');
      if (from) from.textContent = userId === me ? `${sender(line)} (you)` : sender(line);
      const name = node.querySelector('.handle');
      if (name) name.textContent = handle(line);
      node.querySelector('.avatar')?.replaceWith(senderAvatar(line));
    }
  }

  function add(room: string, line: Line): void {
    const lines = rooms.get(room);
    if (!lines) return;
    lines.push(line);
    if (lines.length > KEEP_PER_ROOM) lines.shift();
    if (room !== current) return;
    log.append(lineNode(line));
    if (log.children.length > KEEP_PER_ROOM) log.firstElementChild?.remove();
    log.scrollTop = log.scrollHeight;
  }

  /** The room buttons and the compose box; cheap, run on every membership change. */
  function renderRooms(): void {
    roomsBar.replaceChildren(...[...rooms.keys()].map((room) => {
      const direct = directPeer(room, me()) !== undefined;
      const gone = removed.get(room);
      const attrs: Record<string, string> = { type: 'button', 'aria-pressed': String(room === current), 'data-room': room, 'data-joined': String(joined.has(room)) };
      if (gone !== undefined) attrs['data-left'] = gone;
      const title = gone !== undefined ? `Removed by the server (${gone})` : joined.has(room) ? (direct ? `Direct conversation (${room})` : '') : 'joining…';
      const b = el('button', { className: `room${direct ? ' direct' : ''}${gone !== undefined ? ' left' : ''}`, text: roomLabel(room), title, attrs });
      b.addEventListener('click', () => select(room), { signal });
      return b;
    }));
    if (current) {
      const leaveButton = el('button', { className: 'leave', text: 'Leave', attrs: { type: 'button' } });
      leaveButton.addEventListener('click', () => void leave(), { signal });
      roomsBar.append(leaveButton);
    }
    const gone = current !== undefined && removed.has(current);
    compose.disabled = sendButton.disabled = !current || gone;
    compose.placeholder = !current ? 'Join a room to chat' : gone ? `You were removed from ${roomLabel(current)}: join it again to chat` : `Message ${roomLabel(current)} (Enter to send)`;
  }

  /** Rooms and the whole message log: only when the selected room changes (the log is a live region). */
  function render(): void {
    renderRooms();
    log.replaceChildren(...(current ? rooms.get(current) ?? [] : []).map(lineNode));
    log.setAttribute('aria-label', current ? `Messages in ${roomLabel(current)}` : 'Messages');
    members.show(current);
    log.scrollTop = log.scrollHeight;
  }

  function select(room: string): void {
    current = room;
    render();
  }

  async function join(room: string): Promise<void> {
    notice.textContent = '';
    if (!ACTION_NAME.test(room)) {
      notice.textContent = 'Room names are 1-128 letters, digits or _ . : - / @ (then #id,id for a room only those users may join)';
      return;
    }
    if (!rooms.has(room)) rooms.set(room, []);
    const peer = directPeer(room, me());
    if (peer !== undefined) void profiles.fill([peer]); // its label in the rooms bar
    select(room);
    try {
      await client.channel(room).join();
    } catch (err) {
      if (client.channel(room).joined) notice.textContent = `Joining #${room} once reconnected.`;
      else {
        rooms.delete(room);
        current = rooms.keys().next().value;
        render();
        notice.textContent = `Could not join ${roomLabel(room)}: ${(err as Error).message}`;
      }
    }
  }

  function openDirect(userId: string): void {
    if (userId === me()) return;
    const room = directAction(me(), userId);
    if (rooms.has(room) && client.channel(room).joined) return select(room);
    void join(room);
  }

  async function leave(): Promise<void> {
    const room = current;
    if (!room) return;
    rooms.delete(room);
    removed.delete(room);
    current = rooms.keys().next().value;
    render();
    await client.channel(room).leave(); // not connected: the server forgot it with the socket
  }

  async function send(): Promise<void> {
    const text = compose.value.trim();
    if (!text || !current) return;
    notice.textContent = '';
    try {
      await client.channel(current).publish({ text }, { echo: true });
      compose.value = '';
    } catch (err) {
      notice.textContent = `Not sent: ${(err as Error).message}. Your text is still in the box.`;
    }
  }

  const offs = [
    client.on('message', (msg) => {
      const text = messageText(msg.data);
      if ('system' in msg.from) return add(msg.action, { kind: 'message', text, system: true, ts: msg.ts });
      const from = msg.from;
      roster.learn(from.userId, from.username, from.displayName);
      void profiles.fill([from.userId]); // a sender not in the online list: its picture
      const mine = from.userId === client.user?.id;
      add(msg.action, { kind: 'message', text, userId: from.userId, mine, ts: msg.ts });
    }),
    client.on('joined', ({ action, result, rejoin }) => {
      joined.add(action);
      removed.delete(action);
      renderRooms();
      const note = rejoin && welcomes > 1 ? recoveryNote(result) : undefined;
      if (note) add(action, { kind: 'notice', text: note, ts: Date.now() });
    }),
    profiles.onChange((ids) => {
      relabel(ids);
      renderRooms(); // direct conversations are labelled with the other user's name
    }),
    client.on('state', (s) => {
      if (s === 'connected') return;
      joined.clear();
      renderRooms();
    }),
    client.on('welcome', (w) => {
      welcomes += 1;
      if (welcomes === 1) return;
      for (const room of rooms.keys()) {
        add(room, { kind: 'notice', text: `Reconnected (node ${w.node}).`, ts: Date.now() });
      }
    }),
    client.on('left', ({ action, reason, error }) => {
      if (error) notice.textContent = `Left #${action}: ${error.message}`;
      if (!rooms.has(action)) return;
      joined.delete(action);
      removed.set(action, reason);
      renderRooms();
      add(action, { kind: 'notice', text: `You were removed from ${roomLabel(action)} by the server (${reason}).`, ts: Date.now() });
    }),
  ];

  joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const room = roomInput.value.trim();
    roomInput.value = '';
    void join(room);
  }, { signal });
  sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  }, { signal });
  signal.addEventListener('abort', () => {
    for (const off of offs) off();
    rooms.clear();
    removed.clear();
    current = undefined;
    notice.textContent = '';
    render();
  });
  render();
  return { openDirect };
}
