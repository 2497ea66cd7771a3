/** Small DOM helpers. Text always goes in through textContent, never as HTML. */

/** The element with `id`; throws when index.html lacks it (a build mistake, not a runtime state). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`index.html has no #${id}`);
  return found as T;
}

type Props = { className?: string; text?: string; title?: string; attrs?: Record<string, string> };

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) node.className = props.className;
  if (props.text !== undefined) node.textContent = props.text;
  if (props.title) node.title = props.title;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Initials for an avatar: first letters of the first two words. */
export function initials(label: string): string {
  const words = label.trim().split(/\s+/).filter(Boolean);
  return (words.slice(0, 2).map((w) => [...w][0] ?? '').join('') || '?').toUpperCase();
}

/**
 * A round avatar: the picture at `url` over the initials of `label`; when the picture is
 * missing or fails to load, the initials show. Decorative (aria-hidden): the name is beside it.
 */
export function avatar(label: string, url?: string, className = 'avatar'): HTMLSpanElement {
  const node = el('span', { className, attrs: { 'aria-hidden': 'true' } }, el('span', { className: 'initials', text: initials(label) }));
  if (url) {
    const img = el('img', { attrs: { src: url, alt: '', loading: 'lazy', decoding: 'async' } });
    img.addEventListener('error', () => img.remove(), { once: true });
    node.append(img);
  }
  return node;
}
