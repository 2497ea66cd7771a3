/**
 * "Edit profile": the signed-in user's display name (PATCH /api/me) and picture (PUT
 * /api/me/avatar, sent as soon as a file is chosen, with the file's own type). The answer's
 * profile is applied at once; the gateway also pushes it to everyone who sees the user.
 * Refusals show the server's own message (413 too large, 415 wrong type, 400 not an image).
 */
import type { UserInfo } from '../../shared/protocol.js';
import { saveDisplayName, uploadAvatar, type ProfileResult } from './account.js';
import { avatar, byId } from './dom.js';
import type { Profiles } from './profiles.js';

export interface EditorDeps {
  token: () => string | undefined;
  me: () => UserInfo | undefined;
  /** A profile the server answered with. */
  learned: (user: UserInfo) => void;
}

export function mountProfileEditor(d: EditorDeps, profiles: Profiles, signal: AbortSignal): void {
  const toggle = byId<HTMLButtonElement>('edit-profile');
  const panel = byId('profile');
  const preview = byId('profile-avatar');
  const nameForm = byId<HTMLFormElement>('name-form');
  const nameInput = byId<HTMLInputElement>('display-name');
  const fileInput = byId<HTMLInputElement>('avatar-file');
  const message = byId('profile-message');
  const say = (text: string, tone: 'error' | 'info') => {
    message.textContent = text;
    message.dataset.tone = tone;
  };
  const renderPreview = () => {
    const me = d.me();
    preview.replaceChildren(avatar(me?.displayName ?? '?', me?.avatarUrl, 'avatar large'));
  };
  const show = (open: boolean) => {
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (!open) return;
    nameInput.value = d.me()?.displayName ?? '';
    say('', 'info');
    renderPreview();
    nameInput.focus();
  };
  async function apply(what: string, pending: Promise<ProfileResult>): Promise<void> {
    say(`Saving ${what}…`, 'info');
    const res = await pending;
    if (signal.aborted) return;
    if (!res.ok) return say(`Not saved: ${res.message}`, 'error');
    d.learned(res.user);
    say(`Saved your ${what}.`, 'info');
  }

  toggle.addEventListener('click', () => show(panel.hidden), { signal });
  byId('profile-close').addEventListener('click', () => {
    show(false);
    toggle.focus();
  }, { signal });
  nameForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = d.token();
    const name = nameInput.value.trim();
    if (!token) return;
    if (!name) return say('Enter a display name.', 'error');
    void apply('display name', saveDisplayName(fetch, token, name));
  }, { signal });
  fileInput.addEventListener('change', () => {
    const file = fileInput.files?.[0];
    const token = d.token();
    fileInput.value = '';
    if (file && token) void apply('picture', uploadAvatar(fetch, token, file));
  }, { signal });
  const off = profiles.onChange((ids) => {
    const me = d.me();
    if (me && ids.includes(me.id) && !panel.hidden) renderPreview();
  });
  signal.addEventListener('abort', () => {
    off();
    show(false);
  });
}
