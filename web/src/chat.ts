/**
 * Chat per action: join rooms by name, read and send messages in the selected one.
 *
 * - Joined rooms are kept joined by the client across reconnects (GatewayClient.join).
 * - Sending publishes `{ text }` with `echo: true`: the page renders only the server's stamped
 *   copy, so what the sender sees is what everyone got, in the server's order.
 * - A message counts as "yours" when `from.userId` is the signed-in user's id.
 * - Messages published while this page was disconnected are not replayed (at-most-once);
 *   the page says so after a reconnect.
 */
import { ACTION_NAME, type ActionMessage, type Sender } from '../../shared/protocol.js';
import type { GatewayClient } from './client.js';
import { byId, el } from './dom.js';
import type { Roster } from './roster.js';

const KEEP_PER_ROOM = 200;

/** The gateway stamps `displayName` too (see session.ts), beyond the shared Sender type. */
type StampedSender = Sender & { displayName?: string };

interface Line { kind: 'message' | 'system'; text: string; who?: string; mine?: boolean; ts: number }

function messageText(data: unknown): string {
  if (typeof data === 'object' && data !== null && typeof (data as { text?: unknown }).text === 'string') {
    return (data as { text: string }).text;
  }
  return typeof data === 'string' ? data : JSON.stringify(data);
}

function lineNode(line: Line): HTMLLIElement {
  const time = new Date(line.ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (line.kind === 'system') return el('li', { className: 'line system', text: line.text });
  return el('li', { className: `line${line.mine ? ' mine' : ''}` },
    el('span', { className: 'meta' },
      el('span', { className: 'from', text: line.mine ? `${line.who} (you)` : line.who ?? '' }),
      el('time', { text: time, attrs: { datetime: new Date(line.ts).toISOString() } })),
    el('span', { className: 'text', text: line.text }));
}

/** Wires the chat panel to `client` until `signal` aborts. */
export function mountChat(client: GatewayClient, roster: Roster, signal: AbortSignal): void {
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
  let current: string | undefined;
  let welcomes = 0;

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
      const attrs = { type: 'button', 'aria-pressed': String(room === current), 'data-room': room, 'data-joined': String(joined.has(room)) };
      const b = el('button', { className: 'room', text: `#${room}`, title: joined.has(room) ? '' : 'joining…', attrs });
      b.addEventListener('click', () => select(room), { signal });
      return b;
    }));
    if (current) {
      const leaveButton = el('button', { className: 'leave', text: 'Leave', attrs: { type: 'button' } });
      leaveButton.addEventListener('click', () => void leave(), { signal });
      roomsBar.append(leaveButton);
    }
    compose.disabled = sendButton.disabled = !current;
    compose.placeholder = current ? `Message #${current} (Enter to send)` : 'Join a room to chat';
  }

  /** Rooms and the whole message log: only when the selected room changes (the log is a live region). */
  function render(): void {
    renderRooms();
    log.replaceChildren(...(current ? rooms.get(current) ?? [] : []).map(lineNode));
    log.setAttribute('aria-label', current ? `Messages in #${current}` : 'Messages');
    log.scrollTop = log.scrollHeight;
  }

  function select(room: string): void {
    current = room;
    render();
  }

  async function join(room: string): Promise<void> {
    notice.textContent = '';
    if (!ACTION_NAME.test(room)) {
      notice.textContent = 'Room names are 1-128 letters, digits or _ . : - / @';
      return;
    }
    if (!rooms.has(room)) rooms.set(room, []);
    select(room);
    try {
      await client.join(room);
    } catch (err) {
      if (client.actions.includes(room)) notice.textContent = `Joining #${room} once reconnected.`;
      else {
        rooms.delete(room);
        current = rooms.keys().next().value;
        render();
        notice.textContent = `Could not join #${room}: ${(err as Error).message}`;
      }
    }
  }

  async function leave(): Promise<void> {
    const room = current;
    if (!room) return;
    rooms.delete(room);
    current = rooms.keys().next().value;
    render();
    await client.leave(room).catch(() => {}); // not connected: the server forgot it with the socket
  }

  async function send(): Promise<void> {
    const text = compose.value.trim();
    if (!text || !current) return;
    notice.textContent = '';
    try {
      await client.request({ type: 'publish', action: current, data: { text }, echo: true });
      compose.value = '';
    } catch (err) {
      notice.textContent = `Not sent: ${(err as Error).message}. Your text is still in the box.`;
    }
  }

  const offs = [
    client.on('message', (msg: ActionMessage) => {
      const from = msg.from as StampedSender;
      roster.learn(from.userId, from.username, from.displayName);
      const mine = from.userId === client.welcome?.user.id;
      add(msg.action, { kind: 'message', text: messageText(msg.data), who: roster.label(from.userId), mine, ts: msg.ts });
    }),
    client.on('joined', ({ action }) => {
      joined.add(action);
      renderRooms();
    }),
    client.on('closed', () => {
      joined.clear();
      renderRooms();
    }),
    client.on('welcome', (w) => {
      welcomes += 1;
      if (welcomes === 1) return;
      for (const room of rooms.keys()) {
        add(room, { kind: 'system', text: `Reconnected (node ${w.node}). Messages sent meanwhile may be missing.`, ts: Date.now() });
      }
    }),
    client.on('serverError', (e) => {
      if (e.action) notice.textContent = `Left #${e.action}: ${e.message}`;
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
    current = undefined;
    notice.textContent = '';
    render();
  });
  render();
}
