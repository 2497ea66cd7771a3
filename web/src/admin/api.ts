/**
 * The operator API as the page uses it: same-origin requests that carry the session cookie (the
 * browser adds it; HttpOnly, so this code never sees it) and, on actions, the session's CSRF
 * token, kept in memory only (never in localStorage, sessionStorage or a readable cookie).
 */
export interface Reply<T> { status: number; body: T }
export interface Refusal { error?: string; message?: string }

export class AdminApi {
  private csrf = '';
  /** Called when a request finds the session gone (401): the page returns to the sign-in form. */
  onSignedOut: () => void = () => {};

  setCsrf(token: string): void {
    this.csrf = token;
  }

  async get<T>(path: string, params: Record<string, string | undefined> = {}): Promise<Reply<T & Refusal>> {
    const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
    const text = query.toString();
    return this.send<T>(`/admin/api/${path}${text ? `?${text}` : ''}`, { method: 'GET' });
  }

  async post<T>(path: string, body: unknown): Promise<Reply<T & Refusal>> {
    return this.send<T>(`/admin/api/${path}`, {
      method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', 'x-csrf-token': this.csrf },
    });
  }

  private async send<T>(url: string, init: RequestInit): Promise<Reply<T & Refusal>> {
    let res: Response;
    try {
      res = await fetch(url, { ...init, credentials: 'same-origin', cache: 'no-store' });
    } catch {
      return { status: 0, body: { error: 'unavailable', message: 'The gateway cannot be reached.' } as T & Refusal };
    }
    const body = (await res.json().catch(() => ({}))) as T & Refusal;
    if (res.status === 401 && !url.endsWith('/signin') && !url.endsWith('/session')) this.onSignedOut();
    return { status: res.status, body };
  }
}

/** What a refusal says to a person. */
export function explain(r: Reply<Refusal>): string {
  if (r.status === 0) return 'The gateway cannot be reached.';
  if (r.status === 429) return 'Too many attempts: wait a minute and try again.';
  return r.body.message ?? `Refused (${r.status}).`;
}
