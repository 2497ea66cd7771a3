/**
 * The reconnecting gateway client. No DOM: the WebSocket constructor, timers, randomness,
 * the clock and fetch are injected, so it runs in a browser, in Node, and under fake timers.
 *
 * Contract:
 * - `start()` connects with the token from `token()`, sent as the subprotocol pair
 *   `bearer, <token>` (kept out of URLs and access logs). The link counts as up once the
 *   `welcome` frame arrives; only then does `request()` send anything.
 * - Liveness: an application `ping` every `welcome.heartbeatMs`; when no frame at all arrives
 *   within `pongTimeoutMs` of a ping, the link is dead: the client closes it and reconnects.
 *   A connect that yields no welcome within `connectTimeoutMs` is treated the same way.
 * - Any drop schedules a reconnect after backoffDelay(attempt) (full jitter, see backoff.ts);
 *   the attempt counter resets on each welcome. Close 1012 (service restart) retries after a
 *   small jitter instead. Close 4001 (token expired) stops with `authFailure`, unless `token()`
 *   meanwhile returns another token than the link was opened with (renewed: see renewal.ts).
 * - A browser cannot see the 401 of a refused upgrade (only a 1006), so after every drop the
 *   token's `exp` is checked locally, and before every reconnect GET `meUrl` is asked: a 401
 *   stops the client with `authFailure`. Other answers (or none) let the reconnect go ahead.
 * - Actions joined through `join()` are joined again after every reconnect: with `history` when
 *   joined with it, else with `since` the last offset seen when there is one (see memberships.ts).
 * - `request()` is the promise API for commands: it adds the `id`, resolves with the ack's
 *   `result`, rejects with a RequestError ('timeout', 'disconnected', or the server's code).
 * - `stop(code)` closes with `code` (1000 by default) and never reconnects.
 */
import type {
  ActionMessage, ClientMessage, ErrorCode, ErrorMessage, PresenceMessage, PresenceResetMessage, ProfileMessage, ServerMessage,
  TokenExpiringMessage, WelcomeMessage,
} from '../../shared/protocol.js';
import { CloseCodes } from '../../shared/protocol.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import { Emitter } from './emitter.js';
import { Memberships, type JoinOptions } from './memberships.js';
import { PendingRequests, RequestError } from './requests.js';
import type { Timers } from './timers.js';
import { tokenExpired } from './token.js';

export { RequestError, type JoinOptions, type Timers };

/** The part of the WebSocket API the client uses (the browser's WebSocket and `ws` fit). */
export interface SocketLike {
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type SocketCtor = new (url: string, protocols?: string | string[]) => SocketLike;
export type FetchLike = (url: string, init: { headers: Record<string, string> }) => Promise<{ status: number }>;

export type ConnectionStatus =
  | { state: 'connecting'; attempt: number }
  | { state: 'connected'; node: string }
  | { state: 'reconnecting'; attempt: number; delayMs: number; retryAt: number; code?: number }
  | { state: 'offline'; reason: 'stopped' | 'auth' };

export interface AuthFailure { reason: 'expired' | 'unauthorized'; message: string }

/** A join's ack result. `delivered`: messages sent first (since/history); `recovered`: only for `since`. */
export interface JoinResult { action: string; joined: true; recovered?: boolean; delivered?: number }

export interface ClientEvents {
  welcome: WelcomeMessage;
  presence: PresenceMessage;
  /** Replace the online set with this snapshot (sent after the presence store came back from an outage). */
  presenceReset: PresenceResetMessage;
  /** A user this client sees changed their display name or picture. */
  profile: ProfileMessage;
  message: ActionMessage;
  status: ConnectionStatus;
  authFailure: AuthFailure;
  /** The server will close with 4001 at `expiresAt` unless a `refresh` command brings a newer token. */
  tokenExpiring: TokenExpiringMessage;
  /** The server acknowledged a join: asked for with join() (`rejoin` false), or repeated after a reconnect. */
  joined: { action: string; result: JoinResult; rejoin: boolean };
  /** The socket closed; `byClient` when this client closed it (stop, dead link). */
  closed: { code: number; reason: string; byClient: boolean };
  /** An `error` frame that answers no pending request, or a refused re-join. */
  serverError: { code: ErrorCode | 'timeout' | 'disconnected'; message: string; action?: string };
}

export interface ClientOptions {
  url: string;
  meUrl: string;
  token: () => string | undefined;
  WebSocket: SocketCtor;
  fetch: FetchLike;
  timers: Timers;
  random: () => number;
  now: () => number;
  backoff?: BackoffPolicy;
  /** Upper bound of the delay after a 1012 close. Default 1000 ms. */
  restartJitterMs?: number;
  /** Open plus welcome must take less than this. Default 10 s. */
  connectTimeoutMs?: number;
  /** A ping must be followed by some frame within this. Default min(10 s, heartbeatMs). */
  pongTimeoutMs?: number;
  /** Default timeout of request(). Default 10 s. */
  requestTimeoutMs?: number;
}

/** A command as the caller writes it: the client adds the id. */
export type Command = { [K in ClientMessage['type']]: Omit<Extract<ClientMessage, { type: K }>, 'id'> }[ClientMessage['type']];

/** retry: backoff wait; connect: open + welcome deadline; heartbeat: next ping; pong: answer deadline. */
type TimerName = 'retry' | 'connect' | 'heartbeat' | 'pong';

export class GatewayClient {
  private ws: SocketLike | undefined;
  /** The token the current (or last) link was opened with. */
  private openedWith: string | undefined;
  private welcomed: WelcomeMessage | undefined;
  private stopped = true;
  private attempt = 0;
  private nextId = 0;
  private readonly scheduled = new Map<TimerName, unknown>();
  private readonly wanted = new Memberships();
  private readonly events = new Emitter<ClientEvents>();
  private readonly pending: PendingRequests;
  private readonly backoff: BackoffPolicy;

  constructor(private readonly opts: ClientOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.pending = new PendingRequests(opts.timers);
  }

  /** The welcome of the current link; undefined while not connected. */
  get welcome(): WelcomeMessage | undefined {
    return this.welcomed;
  }

  /** Actions this client keeps joined across reconnects. */
  get actions(): string[] {
    return this.wanted.actions;
  }

  on<K extends keyof ClientEvents>(event: K, fn: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Close with `code` and stay closed; pending requests reject with 'disconnected'. */
  stop(code: number = CloseCodes.normal, reason = 'client stopped'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimer('retry');
    this.teardown(code, reason, true);
    this.emit('status', { state: 'offline', reason: 'stopped' });
  }

  /** Skip the rest of a backoff wait (e.g. the browser reports it is online again). */
  retryNow(): void {
    if (this.stopped || !this.scheduled.has('retry')) return;
    this.clearTimer('retry');
    void this.recheckThenOpen();
  }

  /**
   * Send `cmd` with a fresh id; resolves with the ack's `result`. Rejects with a RequestError:
   * the server's error code, 'timeout' after `timeoutMs`, or 'disconnected' (not connected, or
   * the link dropped before the answer). Not retried: after 'timeout' the command may have run.
   */
  request<T = unknown>(cmd: Command, timeoutMs = this.opts.requestTimeoutMs ?? 10_000): Promise<T> {
    const ws = this.ws;
    if (!ws || !this.welcomed) return Promise.reject(new RequestError('disconnected', 'not connected'));
    this.nextId += 1;
    const id = `c${this.nextId}`;
    const answer = this.pending.add<T>(id, cmd.type, timeoutMs);
    ws.send(JSON.stringify({ ...cmd, id }));
    return answer;
  }

  /**
   * Join `action` now (when connected) and after every reconnect; resolves with the ack's result.
   * Rejects when the server refuses it (the action is then forgotten) or when not connected
   * (it is kept for later). `history: N` asks for the last N messages first, on every (re)join.
   */
  async join(action: string, opts?: JoinOptions): Promise<JoinResult> {
    this.wanted.add(action, opts);
    try {
      const result = await this.request<JoinResult>(this.wanted.command(action, false));
      this.emit('joined', { action, result, rejoin: false });
      return result;
    } catch (err) {
      if (err instanceof RequestError && err.code !== 'disconnected' && err.code !== 'timeout') this.wanted.delete(action);
      throw err;
    }
  }

  /** Stop keeping `action` joined; tells the server when connected. */
  async leave(action: string): Promise<void> {
    this.wanted.delete(action);
    if (this.welcomed) await this.request({ type: 'leave', action });
  }

  private open(): void {
    const token = this.opts.token();
    if (!token || tokenExpired(token, this.opts.now())) return this.authFail('expired');
    this.emit('status', { state: 'connecting', attempt: this.attempt });
    this.openedWith = token;
    let ws: SocketLike;
    try {
      ws = new this.opts.WebSocket(this.opts.url, ['bearer', token]);
    } catch {
      return this.authFail('unauthorized'); // only a token that is no JWT makes an invalid subprotocol
    }
    this.ws = ws;
    this.setTimer('connect', this.opts.connectTimeoutMs ?? 10_000, () => this.lost(4000, 'connect timeout', true));
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws === ws) this.receive(ev.data);
    };
    ws.onclose = (ev: { code: number; reason?: string }) => {
      if (this.ws === ws) this.lost(ev.code, ev.reason ?? '', false);
    };
    ws.onerror = () => {}; // a close event always follows; it carries what there is to know
  }

  private receive(data: unknown): void {
    this.clearTimer('pong'); // any frame proves the link is alive
    let msg: ServerMessage;
    try {
      msg = JSON.parse(String(data)) as ServerMessage;
    } catch {
      return this.emit('serverError', { code: 'bad_json', message: 'the server sent a frame that is not JSON' });
    }
    switch (msg.type) {
      case 'welcome': return this.welcomeArrived(msg);
      case 'presence': return this.emit('presence', msg);
      case 'presence_reset': return this.emit('presenceReset', msg);
      case 'profile': return this.emit('profile', msg);
      case 'message':
        this.wanted.seen(msg.action, msg.offset);
        return this.emit('message', msg);
      case 'ack': return this.pending.resolve(msg.id, msg.result);
      case 'error': return this.errorArrived(msg);
      case 'token_expiring': return this.emit('tokenExpiring', msg);
      default: return; // pong, and frame types newer than this client: liveness only
    }
  }

  private welcomeArrived(msg: WelcomeMessage): void {
    this.clearTimer('connect');
    this.welcomed = msg;
    this.attempt = 0;
    this.emit('status', { state: 'connected', node: msg.node });
    this.emit('welcome', msg);
    this.heartbeat(msg.heartbeatMs);
    for (const action of this.wanted.actions) {
      this.request<JoinResult>(this.wanted.command(action, true)).then((result) => this.emit('joined', { action, result, rejoin: true }), (err: RequestError) => {
        if (err.code === 'disconnected' || err.code === 'timeout') return; // the next welcome retries it
        this.wanted.delete(action);
        this.emit('serverError', { code: err.code, message: err.message, action });
      });
    }
  }

  private errorArrived(msg: ErrorMessage): void {
    if (msg.id === undefined || !this.pending.has(msg.id)) return this.emit('serverError', { code: msg.code, message: msg.message });
    this.pending.reject(msg.id, new RequestError(msg.code, msg.message));
  }

  private heartbeat(everyMs: number): void {
    const deadline = this.opts.pongTimeoutMs ?? Math.min(10_000, everyMs);
    this.setTimer('heartbeat', everyMs, () => {
      this.ws?.send(JSON.stringify({ type: 'ping' }));
      if (!this.scheduled.has('pong')) this.setTimer('pong', deadline, () => this.lost(4000, 'no answer to ping', true));
      this.heartbeat(everyMs);
    });
  }

  /**
   * The link is gone: clean up, then reconnect unless stopped or the session is over. `byClient`:
   * this side gave up on it (dead or never welcomed) and closes it without awaiting the handshake.
   */
  private lost(code: number, reason: string, byClient: boolean): void {
    this.teardown(code, reason, byClient);
    if (this.stopped) return;
    const token = this.opts.token();
    if (code === CloseCodes.tokenExpired && token === this.openedWith) return this.authFail('expired');
    if (!token || tokenExpired(token, this.opts.now())) return this.authFail('expired');
    let delayMs: number;
    if (code === CloseCodes.serviceRestart) delayMs = Math.floor(this.opts.random() * (this.opts.restartJitterMs ?? 1000));
    else delayMs = backoffDelay(this.backoff, this.attempt++, this.opts.random);
    this.emit('status', { state: 'reconnecting', attempt: this.attempt, delayMs, retryAt: this.opts.now() + delayMs, code });
    this.setTimer('retry', delayMs, () => void this.recheckThenOpen());
  }

  /** Detach and close the socket (if any), stop its timers, fail its pending requests. */
  private teardown(code: number, reason: string, byClient: boolean): void {
    const ws = this.ws;
    this.ws = undefined;
    this.welcomed = undefined;
    for (const name of ['connect', 'heartbeat', 'pong'] as const) this.clearTimer(name);
    this.pending.rejectAll(new RequestError('disconnected', 'the connection closed before the answer came'));
    if (!ws) return;
    ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
    if (byClient) ws.close(code, reason);
    this.emit('closed', { code, reason, byClient });
  }

  /** GET meUrl with the token: a 401 ends the session, anything else lets the reconnect go on. */
  private async recheckThenOpen(): Promise<void> {
    this.clearTimer('retry');
    const token = this.opts.token();
    if (!token || tokenExpired(token, this.opts.now())) return this.authFail('expired');
    const status = await this.withTimeout(this.opts.fetch(this.opts.meUrl, { headers: { authorization: `Bearer ${token}` } }))
      .then((res) => res?.status, () => undefined); // unreachable API: let the WebSocket attempt decide
    if (this.stopped || this.ws) return;
    if (status === 401) return this.authFail('unauthorized');
    this.open();
  }

  private withTimeout<T>(p: Promise<T>): Promise<T | undefined> {
    return new Promise((resolve, reject) => {
      const timer = this.opts.timers.setTimeout(() => resolve(undefined), this.opts.connectTimeoutMs ?? 10_000);
      p.then((v) => resolve(v), reject).finally(() => this.opts.timers.clearTimeout(timer));
    });
  }

  private authFail(reason: AuthFailure['reason']): void {
    this.stopped = true;
    this.clearTimer('retry');
    this.teardown(CloseCodes.normal, 'session over', true);
    this.emit('status', { state: 'offline', reason: 'auth' });
    const message = reason === 'expired' ? 'Your session expired. Please sign in again.' : 'Your session expired or was revoked. Please sign in again.';
    this.emit('authFailure', { reason, message });
  }

  private setTimer(name: TimerName, ms: number, fn: () => void): void {
    this.clearTimer(name);
    this.scheduled.set(name, this.opts.timers.setTimeout(() => {
      this.scheduled.delete(name);
      fn();
    }, ms));
  }

  private clearTimer(name: TimerName): void {
    if (!this.scheduled.has(name)) return;
    this.opts.timers.clearTimeout(this.scheduled.get(name));
    this.scheduled.delete(name);
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    this.events.emit(event, value);
  }
}
