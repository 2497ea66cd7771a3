/**
 * A person in a list (online, search results, a room's members): picture, display name and
 * @username. With `open`, the person is a button that opens a direct conversation with them
 * (never for yourself).
 */
import { avatar, el } from './dom.js';

export interface PersonView { id: string; label: string; handle?: string; picture?: string }

export function personRow(p: PersonView, open?: (userId: string) => void, extra: Node[] = []): HTMLLIElement {
  const who = [
    avatar(p.label, p.picture),
    el('span', { className: 'who' },
      el('span', { className: 'name', text: p.label }),
      ...(p.handle ? [el('span', { className: 'handle', text: `@${p.handle}` })] : [])),
  ];
  let body: HTMLElement;
  if (open) {
    body = el('button', { className: 'person-open', title: `Direct conversation with ${p.label}`, attrs: { type: 'button', 'data-dm': p.id } }, ...who);
    body.addEventListener('click', () => open(p.id));
  } else body = el('span', { className: 'person-open' }, ...who);
  return el('li', { className: 'person', attrs: { 'data-user-id': p.id } }, body, ...extra);
}
