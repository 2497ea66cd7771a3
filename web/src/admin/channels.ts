/**
 * Channels (actions) with members, and one channel at a time: its members (each with an
 * Unsubscribe button: POST /admin/api/unsubscribe, the member's clients get `left`), its recent
 * messages (actions with history) and a publish box (POST /admin/api/publish, from system).
 * Read again when the feed reports joins and leaves, at most once a second.
 */
import { explain, type AdminApi } from './api.js';
import { byId, clock, el } from './dom.js';

interface Channel { action: string; members: number }
interface Member { id: string; username: string }
interface Message { offset: string; from: { system?: boolean; username?: string; displayName?: string }; data: unknown; ts: number }

export class Channels {
  private selected: string | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly api: AdminApi) {
    byId<HTMLFormElement>('publish-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.publish();
    });
  }

  refresh(): void {
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.read();
    }, 1000);
  }

  async read(): Promise<void> {
    const r = await this.api.get<{ channels: Channel[] }>('channels', { limit: '200' });
    if (r.status !== 200) {
      byId('channels-note').textContent = explain(r);
      return;
    }
    byId('channels-count').textContent = String(r.body.channels.length);
    byId('channels').replaceChildren(...r.body.channels.map((c) => {
      const b = el('button', { className: 'chip', attrs: { type: 'button', 'data-channel': c.action, 'aria-pressed': String(c.action === this.selected) } },
        el('span', { text: c.action }), el('span', { className: 'count', text: String(c.members) }));
      b.addEventListener('click', () => void this.open(c.action));
      return el('li', {}, b);
    }));
    byId('channels-note').textContent = r.body.channels.length === 0 ? 'No channel has members.' : '';
    if (this.selected) await this.open(this.selected);
  }

  /** Show one channel: members, recent messages, the publish box. */
  async open(action: string): Promise<void> {
    this.selected = action;
    for (const b of byId('channels').querySelectorAll<HTMLElement>('[data-channel]')) b.setAttribute('aria-pressed', String(b.dataset.channel === action));
    const panel = byId('channel');
    panel.hidden = false;
    panel.dataset.channel = action;
    byId('channel-name').textContent = action;
    const [members, history] = await Promise.all([
      this.api.get<{ users: Member[]; count: number }>('presence', { action, limit: '200' }),
      this.api.get<{ history: boolean; messages: Message[] }>('history', { action, limit: '20' }),
    ]);
    if (this.selected !== action) return;
    byId('channel-members').replaceChildren(...(members.status === 200 ? members.body.users.map((m) => this.member(action, m)) : []));
    byId('channel-note').textContent = members.status === 200 ? `${members.body.count} member(s)` : explain(members);
    this.showHistory(history.status === 200 ? history.body : undefined);
  }

  private member(action: string, m: Member): HTMLLIElement {
    const button = el('button', { className: 'secondary', text: 'Unsubscribe', attrs: { type: 'button' } });
    button.addEventListener('click', async () => {
      button.disabled = true;
      const r = await this.api.post<{ affected: number }>('unsubscribe', { userId: m.id, action });
      byId('channel-note').textContent = r.status === 200 ? `${m.username} removed from ${action} (${r.body.affected} connection(s)).` : explain(r);
      this.refresh();
    });
    return el('li', { className: 'person', attrs: { 'data-user-id': m.id } }, el('span', { className: 'name', text: m.username }), button);
  }

  private showHistory(h: { history: boolean; messages: Message[] } | undefined): void {
    const list = byId('channel-history');
    if (!h?.history) {
      list.replaceChildren(el('li', { className: 'note', text: h ? 'This channel keeps no history.' : 'History could not be read.' }));
      return;
    }
    list.replaceChildren(...h.messages.map((m) => el('li', { className: 'line' },
      el('span', { className: 'meta' }, el('span', { className: 'from', text: m.from.system ? 'system' : (m.from.displayName ?? m.from.username ?? '?') }),
        el('time', { text: clock(m.ts) })),
      el('span', { className: 'text', text: typeof m.data === 'string' ? m.data : JSON.stringify(m.data) }))));
    if (h.messages.length === 0) list.append(el('li', { className: 'note', text: 'No message kept.' }));
  }

  /** Publish the box's text: JSON when it parses as JSON, else as `{"text": …}` like the chat page. */
  private async publish(): Promise<void> {
    const action = this.selected;
    const input = byId<HTMLInputElement>('publish-data');
    if (!action || !input.value.trim()) return;
    let data: unknown;
    try {
      data = JSON.parse(input.value);
    } catch {
      data = { text: input.value };
    }
    const r = await this.api.post<{ published: { ts: number } }>('publish', { action, data });
    byId('channel-note').textContent = r.status === 200 ? `Published to ${action} as system.` : explain(r);
    if (r.status === 200) input.value = '';
    await this.open(action);
  }
}
