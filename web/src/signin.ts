/**
 * The sign-in form: POST /api/login, then hand the session over. Messages for a wrong
 * password, too many attempts, or an expired session go to a live region.
 */
import { login, type Session } from './auth.js';
import { byId } from './dom.js';

/** How a message reads: an error (red), a warning (amber) or plain information. */
export type Tone = 'error' | 'warning' | 'info';

export interface SignInView {
  /**
   * Show the form, with `message` (e.g. "session expired") in the given tone when given;
   * `reason` (why the last session ended, e.g. 'disconnected') becomes the message's data-reason.
   */
  show(message?: string, tone?: Tone, reason?: string): void;
  hide(): void;
}

export function createSignIn(onSession: (session: Session) => void): SignInView {
  const section = byId('signin');
  const form = byId<HTMLFormElement>('signin-form');
  const username = byId<HTMLInputElement>('username');
  const password = byId<HTMLInputElement>('password');
  const submit = byId<HTMLButtonElement>('signin-submit');
  const message = byId('signin-message');
  const say = (text: string, tone: Tone) => {
    message.textContent = text;
    message.dataset.tone = tone;
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const user = username.value.trim();
    if (!user || !password.value) {
      say('Enter your username and password.', 'error');
      (user ? password : username).focus();
      return;
    }
    submit.disabled = true;
    say('Signing in…', 'info');
    delete message.dataset.reason;
    void login(fetch, user, password.value).then((result) => {
      submit.disabled = false;
      if (!result.ok) {
        say(result.message, result.reason === 'rate_limited' ? 'warning' : 'error');
        message.dataset.reason = result.reason;
        password.select();
        return;
      }
      password.value = '';
      say('', 'info');
      onSession(result.session);
    });
  });

  return {
    show(text, tone = 'info', reason) {
      section.hidden = false;
      say(text ?? '', tone);
      if (reason === undefined) delete message.dataset.reason;
      else message.dataset.reason = reason;
      (username.value ? password : username).focus();
    },
    hide() {
      section.hidden = true;
    },
  };
}
