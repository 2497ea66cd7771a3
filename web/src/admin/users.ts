/**
 * Who is online: the count (from the feed) and a searchable list, each user with the actions
 * their connections joined and a Disconnect button (POST /admin/api/disconnect: close 4003 on
 * every node and refuse the user's current tokens, as the server API does). The list is read
 * again when the feed says someone came or went, at most once a second.
 */
import { explain, type AdminApi } from './api.js';
import { byId, el } from './dom.js';
import type { OnlineUser } from './types.js';

export class OnlineUsers {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastRead = 0;
  private reading = false;

  constructor(private readonly api: AdminApi, private readonly onChannel: (action: string) => void) {
    byId<HTMLInputElement>('user-q').addEventListener('input', () => this.refresh());
  }

  setCount(count: number): void {
    byId('online-count').textContent = String(count);
  }

  /** Read the list again soon: now if the last read was over a second ago, else when it will be. */
  refresh(): void {
    if (this.timer) return;
    const wait = Math.max(0, 1000 - (Date.now() - this.lastRead));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.read();
    }, wait);
  }

  private async read(): Promise<void> {
    if (this.reading) return this.refresh();
    this.reading = true;
    this.lastRead = Date.now();
    const q = byId<HTMLInputElement>('user-q').value.trim();
    const r = await this.api.get<{ users: OnlineUser[]; count: number; missing: string[] }>('online', { q, limit: '100' });
    this.reading = false;
    const note = byId('users-note');
    if (r.status !== 200) {
      note.textContent = explain(r);
      return;
    }
    this.setCount(r.body.count);
    const sorted = [...r.body.users].sort((a, b) => a.displayName.localeCompare(b.displayName, undefined, { numeric: true }));
    byId('users').replaceChildren(...sorted.map((u) => this.row(u)));
    const shown = r.body.users.length < r.body.count ? `${r.body.users.length} of ${r.body.count} shown. ` : '';
    note.textContent = `${shown}${r.body.missing.length > 0 ? `No answer from ${r.body.missing.join(', ')}: their channels are missing.` : ''}`;
  }

  private row(u: OnlineUser): HTMLLIElement {
    const button = el('button', { className: 'secondary danger', text: 'Disconnect', attrs: { type: 'button', 'data-action': 'disconnect' } });
    button.addEventListener('click', () => void this.disconnect(u, button));
    const channels = el('span', { className: 'chips' }, ...u.actions.map((a) => {
      const chip = el('button', { className: 'chip', text: a, attrs: { type: 'button', 'data-channel': a } });
      chip.addEventListener('click', () => this.onChannel(a));
      return chip;
    }));
    const who = el('span', { className: 'who' }, el('span', { className: 'name', text: u.displayName }), el('span', { className: 'handle', text: `@${u.username}` }), channels);
    return el('li', { className: 'person', attrs: { 'data-user-id': u.id } }, who, button);
  }

  private async disconnect(u: OnlineUser, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    const r = await this.api.post<{ affected: number }>('disconnect', { userId: u.id });
    byId('users-note').textContent = r.status === 200 ? `${u.username}: ${r.body.affected} connection(s) closed (4003), tokens revoked.` : explain(r);
    button.disabled = false;
    this.refresh();
  }
}
