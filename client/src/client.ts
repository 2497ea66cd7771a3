/**
 * RealtimeClient: one reconnecting connection to the gateway, its channels and its presence.
 *
 * States: `disconnected` (not started, or waiting to reconnect) → `connecting` → `connected`
 * (welcomed) → back to `disconnected` when the link drops; `closed` after `close()` or when the
 * session is over (terminal until the next `connect()`).
 *
 * Reconnection (close codes, PROTOCOL.md): 1012 (a node stopping) after a short jitter; 4001
 * (token expired) after a fresh token from `getToken`; 4003 (the backend disconnected the user)
 * is terminal; 4029 (rate limited) backs off from 5 s; anything else (1006, 4008, a dead link)
 * with full-jitter backoff from 0.5 s doubling to 20 s, so a node's clients do not return at once.
 * With several URLs each reconnect tries the next one.
 *
 * Transports: a WebSocket first; when it is refused before it opens, or does not open within
 * `fallbackAfterMs` (3 s), the next attempt, at once, is the HTTP streaming fallback
 * (http-socket.ts). What got a welcome is used first from then on, for this client's life;
 * `transports: ['http']` forces the fallback, `['websocket']` turns it off.
 *
 * Tokens: `getToken` is asked at the first connect, when the token is about to expire (the new
 * one replaces it on the live socket: no disconnect), after a 4001, and before a reconnect whose
 * last attempt never got a welcome (a refused upgrade looks like a network error in a browser).
 * Throwing UnauthorizedError from it closes the client ('closed', reason 'unauthorized').
 */
import type { CommandResults, RequestId, ServerMessage, UserInfo, WelcomeMessage } from '../../shared/protocol.js';
import { CloseCodes } from '../../shared/protocol.js';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { Channel, type ChannelEvents, type ChannelHost } from './channel.js';
import { Emitter } from './emitter.js';
import { RequestError, UnauthorizedError } from './errors.js';
import { canStream, HttpStream } from './http-socket.js';
import { Link, type Command, type LinkEnd, type WebSocketConstructor } from './link.js';
import { Memberships } from './memberships.js';
import { Presence } from './presence.js';
import { Rejoins } from './rejoins.js';
import { NamedTimers, type Timers } from './timers.js';
import { Tokens } from './tokens.js';
import type { ClientEvents, ClientOptions, ClosedInfo, ConnectionState, Transport } from './options.js';

export type { ClientEvents, ClientOptions, ClosedInfo, ConnectionState, Transport } from './options.js';

const defaultTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };

export class RealtimeClient {
  state: ConnectionState = 'disconnected';
  /** The signed-in user, from the latest welcome. */
  user: UserInfo | undefined;
  welcome: WelcomeMessage | undefined;
  readonly presence: Presence;
  /** @internal */
  readonly memberships = new Memberships();
  private readonly urls: string[];
  private readonly events = new Emitter<ClientEvents>();
  private readonly channels = new Map<string, Channel>();
  private readonly timers: NamedTimers<'retry' | 'renew'>;
  private readonly rejoins: Rejoins;
  /** What channels (and rejoins) use of this client: one object for all of them. */
  private readonly shared: ChannelHost;
  private link: Link | undefined;
  private readonly tokens: Tokens;
  /** Bumped by every attempt: one whose token comes after a close() or a newer attempt gives up. */
  private opening = 0;
  private attempt = 0;
  private urlIndex = -1;
  private readonly transports: Transport[];
  /** The transport of the next attempt: the one that last got a welcome, or the first. */
  private next: Transport;
  private current: Transport | undefined;
  private waiting: Array<{ resolve(w: WelcomeMessage): void; reject(err: Error): void }> = [];
  private readonly o: Required<Pick<ClientOptions, 'timers' | 'random' | 'now' | 'backoff'>> & ClientOptions;

  constructor(url: string | readonly string[], options: ClientOptions = {}) {
    this.urls = typeof url === 'string' ? [url] : [...url];
    if (this.urls.length === 0) throw new TypeError('RealtimeClient needs at least one URL');
    this.o = { timers: defaultTimers, random: Math.random, now: Date.now, backoff: DEFAULT_BACKOFF, ...options };
    this.timers = new NamedTimers(this.o.timers);
    this.tokens = new Tokens({
      getToken: options.getToken, token: options.token, now: this.o.now, timers: this.timers as NamedTimers<'renew'>,
      refresh: (token) => this.request({ type: 'refresh', token }),
      refreshed: (expiresAt) => this.events.emit('refreshed', { expiresAt }),
      failed: (message) => this.events.emit('error', { code: 'token', message }),
    });
    this.transports = options.transports?.length ? [...options.transports] : canStream() ? ['websocket', 'http'] : ['websocket'];
    this.next = this.transports[0];
    this.shared = this.host();
    this.rejoins = new Rejoins(this.shared, (name) => this.channel(name), this.o.timers);
    this.presence = new Presence((cmd) => this.request(cmd as never), this.o.timers);
  }

  on<K extends keyof ClientEvents>(event: K, fn: (value: ClientEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /** The transport of the current connection (or of the next attempt). */
  get transport(): Transport {
    return this.current ?? this.next;
  }

  /** Start (or restart after `close()`); resolves with the next welcome, rejects if the client closes first. */
  connect(): Promise<WelcomeMessage> {
    if (this.state === 'connected' && this.welcome) return Promise.resolve(this.welcome);
    const welcomed = new Promise<WelcomeMessage>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (this.state === 'closed' || (this.state === 'disconnected' && !this.timers.has('retry'))) {
      // A start after the session ended (4003, a refused token): that session's token is not sent again.
      if (this.state === 'closed') this.tokens.forget();
      this.attempt = 0;
      void this.open();
    }
    return welcomed;
  }

  /** Close with 1000 and stay closed ('closed'); pending requests reject with 'disconnected'. */
  close(): void {
    this.finish({ reason: 'client', message: 'closed by the app' });
  }

  /** Skip the rest of a backoff wait (e.g. the browser reports it is online again). */
  reconnectNow(): void {
    if (!this.timers.has('retry')) return;
    this.timers.clear('retry');
    void this.open();
  }

  /** The one object of the action `name`. */
  channel(name: string): Channel {
    let ch = this.channels.get(name);
    if (!ch) this.channels.set(name, (ch = new Channel(name, this.shared)));
    return ch;
  }

  /** Send any command with an id; resolves with its typed result, rejects with a RequestError. */
  request<C extends Command>(cmd: C, opts: { timeoutMs?: number } = {}): Promise<CommandResults[C['type']]> {
    if (!this.link) return Promise.reject(new RequestError('disconnected', 'not connected'));
    return this.link.request(cmd, opts.timeoutMs ?? this.o.requestTimeoutMs ?? 10_000);
  }

  private host(): ChannelHost {
    return {
      memberships: this.memberships,
      request: (cmd) => this.request(cmd as never) as never,
      join: (ch, opts) => (this.state === 'closed'
        ? Promise.reject(new RequestError('disconnected', 'the client is closed: connect() first'))
        : this.rejoins.join(ch, opts, this.state === 'connected')),
      leave: async (ch) => {
        this.memberships.delete(ch.name);
        if (this.state === 'connected') await this.request({ type: 'leave', action: ch.name }).then(() => {}, () => {});
      },
      emitted: (ch, event, value) => {
        if (event === 'joined' || event === 'left') this.events.emit(event, { action: ch.name, ...(value as ChannelEvents['left']) } as never);
      },
    };
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.events.emit('state', state);
  }

  /** One connection attempt: a token, a URL, a socket. */
  private async open(): Promise<void> {
    const mine = (this.opening += 1);
    const current = () => mine === this.opening && this.state === 'connecting';
    this.setState('connecting');
    let token: string;
    try {
      token = await this.tokens.forAttempt();
    } catch (err) {
      if (!current()) return; // closed, or started again, meanwhile
      if (err instanceof UnauthorizedError) return this.finish({ reason: err.reason, message: err.message });
      return this.retryLater({ code: 4000, reason: `no token: ${(err as Error).message}`, byClient: true, opened: false, welcomed: false });
    }
    if (!current()) return; // closed, or started again, meanwhile
    this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    const Native = this.o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    const transport = this.next === 'websocket' && !Native && this.transports.includes('http') ? 'http' : this.next;
    const Ctor = transport === 'http' ? HttpStream : Native;
    if (!Ctor) return this.finish({ reason: 'unauthorized', message: 'no WebSocket: pass options.WebSocket (Node 20: the ws package)' });
    let ws;
    try {
      ws = new Ctor(this.urls[this.urlIndex], ['bearer', token]);
    } catch {
      return this.finish({ reason: 'unauthorized', message: 'the token cannot be sent (it is not a JWT)' });
    }
    this.current = transport;
    this.link = new Link(ws, {
      timers: this.o.timers, connectTimeoutMs: this.o.connectTimeoutMs ?? 10_000, pongTimeoutMs: this.o.pongTimeoutMs,
      openTimeoutMs: transport === 'websocket' && this.transports.includes('http') ? this.o.fallbackAfterMs ?? 3000 : undefined,
      onWelcome: (w) => this.welcomed(w), onFrame: (m) => this.frame(m), onEnd: (end) => this.ended(end),
    });
  }

  private welcomed(w: WelcomeMessage): void {
    this.attempt = 0;
    this.welcome = w;
    this.user = w.user;
    if (this.current) this.next = this.current; // what worked is used first from now on
    this.setState('connected');
    this.events.emit('welcome', w);
    this.presence.welcomed(w);
    this.rejoins.all();
    for (const waiter of this.waiting.splice(0)) waiter.resolve(w);
  }

  private frame(msg: ServerMessage): void {
    switch (msg.type) {
      case 'message': {
        this.memberships.seen(msg.action, msg.offset);
        // One object for the channel's listeners and the client's.
        const m = { action: msg.action, data: msg.data, from: msg.from, offset: msg.offset, ts: msg.ts };
        this.channels.get(msg.action)?.receive(m);
        return this.events.emit('message', m);
      }
      case 'presence': return this.presence.frame(msg.changes);
      case 'presence_reset': case 'presence_count': return this.presence.frame(msg);
      case 'room': case 'room_reset': return this.channels.get(msg.action)?.deliver(msg);
      case 'left':
        this.memberships.delete(msg.action);
        return this.channel(msg.action).emit('left', { reason: msg.reason });
      case 'profile':
        if (msg.user.id === this.user?.id) this.user = msg.user;
        return this.events.emit('profile', msg.user);
      case 'token_expiring': return void this.tokens.renew(msg.expiresAt);
      case 'error': return this.events.emit('error', { code: msg.code, message: msg.message });
      default: // pong: liveness only (the link counted it)
    }
  }

  private ended(end: LinkEnd): void {
    const was = this.current;
    this.link = undefined;
    this.welcome = undefined;
    this.current = undefined;
    this.timers.clear('renew');
    if (this.state === 'closed') return;
    if (end.code === CloseCodes.disconnected) return this.finish({ reason: 'disconnected', message: 'disconnected by the server; sign in again' });
    if (end.code === CloseCodes.tokenExpired) this.tokens.want = 'expired';
    else if (!end.welcomed && this.o.getToken) this.tokens.want = 'retry';
    // A WebSocket that never opened (refused, or hanging at a proxy): the fallback, at once.
    if (was === 'websocket' && !end.opened && this.transports.includes('http')) {
      this.next = 'http';
      return this.retryLater(end, 0);
    }
    if (!end.welcomed && was === 'http' && this.transports[0] !== 'http') this.next = this.transports[0];
    this.retryLater(end);
  }

  private retryLater(end: LinkEnd, now?: number): void {
    const b = this.o.backoff;
    const delayMs = now !== undefined ? now : end.code === CloseCodes.serviceRestart ? Math.floor(this.o.random() * 1000)
      : backoffDelay(end.code === CloseCodes.rateLimited ? { baseMs: Math.max(b.baseMs, 5000), capMs: Math.max(b.capMs, 60_000) } : b, this.attempt++, this.o.random);
    this.setState('disconnected');
    this.events.emit('disconnect', { code: end.code, reason: end.reason, delayMs });
    this.timers.set('retry', delayMs, () => void this.open());
  }

  private finish(info: ClosedInfo): void {
    this.timers.clear('retry');
    this.timers.clear('renew');
    const link = this.link;
    this.link = undefined;
    this.welcome = undefined;
    if (this.state === 'closed') return;
    this.setState('closed');
    link?.close(CloseCodes.normal, info.reason === 'client' ? 'client closed' : 'session over');
    this.rejoins.stop();
    const err = info.reason === 'client' ? new RequestError('disconnected', info.message) : new UnauthorizedError(info.message, info.reason);
    for (const waiter of this.waiting.splice(0)) waiter.reject(err);
    this.events.emit('closed', info);
  }
}

export type { RequestId };
