/** The nodes table: one row per registered node (its lease says alive), with its newest figures. */
import { byId, el, megabytes, perSecond } from './dom.js';
import type { NodeRow } from './types.js';

export function renderNodes(nodes: NodeRow[], servedBy: string): void {
  const body = byId('nodes-body');
  byId('nodes-count').textContent = String(nodes.length);
  const rows = [...nodes].sort((a, b) => a.id.localeCompare(b.id)).map((n) => {
    const cell = (text: string, className = '') => el('td', { text, className });
    const alive = el('td', {}, el('span', { className: `badge ${n.alive ? 'on' : 'off'}`, text: n.alive ? 'alive' : 'lease expired' }));
    const name = el('th', { attrs: { scope: 'row' }, text: n.id + (n.id === servedBy ? ' (this page)' : '') });
    return el('tr', { attrs: { 'data-node-id': n.id } }, name, alive, cell(String(n.connections), 'num'), cell(String(n.users), 'num'),
      cell(megabytes(n.rssBytes), 'num'), cell(perSecond(n.inPerS), 'num'), cell(perSecond(n.outPerS), 'num'));
  });
  body.replaceChildren(...rows);
}
