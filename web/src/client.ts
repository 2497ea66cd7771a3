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
 *   Close 4003 (the backend's POST /api/disconnect) stops with `authFailure` 'disconnected'
 *   even after a renewal (the server revoked the user's tokens): only a new sign-in connects.
 * - A browser cannot see the 401 of a refused upgrade (only a 1006), so after every drop the
 *   token's `exp` is checked locally, and before every reconnect GET `meUrl` is asked: a 401
 *   stops the client with `authFailure`. Other answers (or none) let the reconnect go ahead.
 * - Actions joined through `join()` are joined again after every reconnect. On actions with
 *   history the client holds a stream position from the join's ack on (then each message's
 *   offset) and re-joins with `since` + `epoch`; without a position, with `history: N` when
 *   joined with it, else plainly (memberships.ts). A re-join answered `recovered: false` is
 *   reported (`unrecovered`); an action joined with `history: N` is then left and joined again
 *   with `history: N`, so its current state comes back.
 * - A `left` frame (the backend's POST /api/unsubscribe) forgets the action and its position:
 *   it is reported (`left`) and not re-joined after a reconnect, only by a new join().
 * - Room presence: `members(action, cursor?)` reads a page of an action's members; `room` and
 *   `roomReset` events pass the server's frames on (room-members.ts applies them).
 * - `request()` is the promise API for commands: it adds the `id`, resolves with the ack's
 *   `result`, rejects with a RequestError ('timeout', 'disconnected', or the server's code).
 * - `stop(code)` closes with `code` (1000 by default) and never reconnects.
 */
import type { ErrorMessage, JoinResult, MembersResult, ServerMessage, WelcomeMessage } from '../../shared/protocol.js';
import { CloseCodes } from '../../shared/protocol.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.js';
import type { AuthFailure, ClientEvents, ClientOptions, Command, SocketLike } from './client-types.js';
import { Emitter } from './emitter.js';
import { Memberships, type JoinOptions } from './memberships.js';
import { PendingRequests, RequestError } from './requests.js';
import { NamedTimers, settleWithin, type Timers } from './timers.js';
import { tokenExpired } from './token.js';

export type { AuthFailure, ClientEvents, ClientOptions, Command, ConnectionStatus, FetchLike, JoinResult, SocketCtor, SocketLike } from './client-types.js';
export { RequestError, type JoinOptions, type Timers };

const AUTH_FAILURE_TEXT: Record<AuthFailure['reason'], string> = {
  expired: 'Your session expired. Please sign in again.',
  unauthorized: 'Your session expired or was revoked. Please sign in again.',
  disconnected: 'Disconnected by the server. Please sign in again.',
};

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
  private readonly timers: NamedTimers<TimerName>;
  private readonly wanted = new Memberships();
  private readonly events = new Emitter<ClientEvents>();
  private readonly pending: PendingRequests;
  private readonly backoff: BackoffPolicy;

  constructor(private readonly opts: ClientOptions) {
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.pending = new PendingRequests(opts.timers);
    this.timers = new NamedTimers(opts.timers);
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
    this.timers.clear('retry');
    this.teardown(code, reason, true);
    this.emit('status', { state: 'offline', reason: 'stopped' });
  }

  /** Skip the rest of a backoff wait (e.g. the browser reports it is online again). */
  retryNow(): void {
    if (this.stopped || !this.timers.has('retry')) return;
    this.timers.clear('retry');
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
   * (it is kept for later). `history: N` asks for the last N messages first (the first join, and
   * re-joins before any position is known).
   */
  async join(action: string, opts?: JoinOptions): Promise<JoinResult> {
    this.wanted.add(action, opts);
    try {
      const result = await this.request<JoinResult>(this.wanted.command(action, false));
      this.joinAcked(action, result, false);
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

  /** One page of `action`'s members (room presence; members only): pass the ack's `cursor` for the next. */
  members(action: string, cursor?: string): Promise<MembersResult> {
    return this.request<MembersResult>(cursor === undefined ? { type: 'members', action } : { type: 'members', action, cursor });
  }

  /** The stream position held on `action` (actions with history), as the next re-join would send it. */
  position(action: string): { offset: string; epoch?: string } | undefined {
    return this.wanted.position(action);
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
    this.timers.set('connect', this.opts.connectTimeoutMs ?? 10_000, () => this.lost(4000, 'connect timeout', true));
    ws.onmessage = (ev: { data: unknown }) => {
      if (this.ws === ws) this.receive(ev.data);
    };
    ws.onclose = (ev: { code: number; reason?: string }) => {
      if (this.ws === ws) this.lost(ev.code, ev.reason ?? '', false);
    };
    ws.onerror = () => {}; // a close event always follows; it carries what there is to know
  }

  private receive(data: unknown): void {
    this.timers.clear('pong'); // any frame proves the link is alive
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
      case 'presence_count': return this.emit('presenceCount', msg);
      case 'profile': return this.emit('profile', msg);
      case 'room': return this.emit('room', msg);
      case 'room_reset': return this.emit('roomReset', msg);
      case 'message':
        this.wanted.seen(msg.action, msg.offset);
        return this.emit('message', msg);
      case 'ack': return this.pending.resolve(msg.id, msg.result);
      case 'error': return this.errorArrived(msg);
      case 'token_expiring': return this.emit('tokenExpiring', msg);
      case 'left':
        this.wanted.delete(msg.action);
        return this.emit('left', msg);
      default: return; // pong, and frame types newer than this client: liveness only
    }
  }

  private welcomeArrived(msg: WelcomeMessage): void {
    this.timers.clear('connect');
    this.welcomed = msg;
    this.attempt = 0;
    this.emit('status', { state: 'connected', node: msg.node });
    this.emit('welcome', msg);
    this.heartbeat(msg.heartbeatMs);
    for (const action of this.wanted.actions) this.rejoin(action, this.wanted.command(action, true));
  }

  /** Join `action` again on this link; a refusal forgets it (and says so), a lost link leaves it for the next welcome. */
  private rejoin(action: string, cmd: Command): void {
    this.request<JoinResult>(cmd).then((result) => this.joinAcked(action, result, true), (err: RequestError) => {
      if (err.code === 'disconnected' || err.code === 'timeout') return; // the next welcome retries it
      this.wanted.delete(action);
      this.emit('serverError', { code: err.code, message: err.message, action });
    });
  }

  /** A join's ack: record the position, report it, and reload a state-like action whose gap was lost. */
  private joinAcked(action: string, result: JoinResult, rejoin: boolean): void {
    this.wanted.acked(action, result);
    this.emit('joined', { action, result, rejoin });
    if (result.recovered !== false || !this.wanted.has(action)) return;
    const history = this.wanted.historyOf(action);
    this.emit('unrecovered', { action, result, reloading: history !== undefined });
    if (history === undefined) return;
    this.wanted.reload(action);
    // Already a member: only a leave makes the server deliver the last N again.
    this.request({ type: 'leave', action }).then(() => {
      if (this.wanted.has(action)) this.rejoin(action, this.wanted.command(action, true)); // history: N
    }, () => {}); // disconnected: the next welcome re-joins it
  }

  private errorArrived(msg: ErrorMessage): void {
    if (msg.id === undefined || !this.pending.has(msg.id)) return this.emit('serverError', { code: msg.code, message: msg.message });
    this.pending.reject(msg.id, new RequestError(msg.code, msg.message));
  }

  private heartbeat(everyMs: number): void {
    const deadline = this.opts.pongTimeoutMs ?? Math.min(10_000, everyMs);
    this.timers.set('heartbeat', everyMs, () => {
      this.ws?.send(JSON.stringify({ type: 'ping' }));
      if (!this.timers.has('pong')) this.timers.set('pong', deadline, () => this.lost(4000, 'no answer to ping', true));
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
    if (code === CloseCodes.disconnected) return this.authFail('disconnected');
    const token = this.opts.token();
    if (code === CloseCodes.tokenExpired && token === this.openedWith) return this.authFail('expired');
    if (!token || tokenExpired(token, this.opts.now())) return this.authFail('expired');
    let delayMs: number;
    if (code === CloseCodes.serviceRestart) delayMs = Math.floor(this.opts.random() * (this.opts.restartJitterMs ?? 1000));
    else delayMs = backoffDelay(this.backoff, this.attempt++, this.opts.random);
    this.emit('status', { state: 'reconnecting', attempt: this.attempt, delayMs, retryAt: this.opts.now() + delayMs, code });
    this.timers.set('retry', delayMs, () => void this.recheckThenOpen());
  }

  /** Detach and close the socket (if any), stop its timers, fail its pending requests. */
  private teardown(code: number, reason: string, byClient: boolean): void {
    const ws = this.ws;
    this.ws = undefined;
    this.welcomed = undefined;
    for (const name of ['connect', 'heartbeat', 'pong'] as const) this.timers.clear(name);
    this.pending.rejectAll(new RequestError('disconnected', 'the connection closed before the answer came'));
    if (!ws) return;
    ws.onmessage = ws.onclose = ws.onerror = ws.onopen = null;
    if (byClient) ws.close(code, reason);
    this.emit('closed', { code, reason, byClient });
  }

  /** GET meUrl with the token: a 401 ends the session, anything else lets the reconnect go on. */
  private async recheckThenOpen(): Promise<void> {
    this.timers.clear('retry');
    const token = this.opts.token();
    if (!token || tokenExpired(token, this.opts.now())) return this.authFail('expired');
    const status = await settleWithin(this.opts.timers, this.opts.connectTimeoutMs ?? 10_000, this.opts.fetch(this.opts.meUrl, { headers: { authorization: `Bearer ${token}` } }))
      .then((res) => res?.status, () => undefined); // unreachable API: let the WebSocket attempt decide
    if (this.stopped || this.ws) return;
    if (status === 401) return this.authFail('unauthorized');
    this.open();
  }

  private authFail(reason: AuthFailure['reason']): void {
    this.stopped = true;
    this.timers.clear('retry');
    this.teardown(CloseCodes.normal, 'session over', true);
    this.emit('status', { state: 'offline', reason: 'auth' });
    this.emit('authFailure', { reason, message: AUTH_FAILURE_TEXT[reason] });
  }

  private emit<K extends keyof ClientEvents>(event: K, value: ClientEvents[K]): void {
    this.events.emit(event, value);
  }
}
