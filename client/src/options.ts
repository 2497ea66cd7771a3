/**
 * The client's public option and event types, apart from the class that uses them (client.ts).
 */
import type { UserInfo, WelcomeMessage } from '../../shared/protocol.js';
import type { BackoffPolicy } from './backoff.js';
import type { ChannelEvents, ChannelMessage } from './channel.js';
import type { WebSocketConstructor } from './link.js';
import type { Timers } from './timers.js';
import type { GetToken } from './token.js';

export type ConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';
export type Transport = 'websocket' | 'http';

/** Why the client closed: the app closed it, or the session is over. */
export interface ClosedInfo { reason: 'client' | 'unauthorized' | 'expired' | 'disconnected'; message: string }

export interface ClientOptions {
  /** A token for every connect (see the header for when it is asked); or give `token`. */
  getToken?: GetToken;
  /** A fixed token (tests, tools); `getToken` wins when both are given. */
  token?: string;
  /** The WebSocket constructor (Node 20: `ws`); default the platform's global one. */
  WebSocket?: WebSocketConstructor;
  /** Transports to use, in order (default both where fetch can stream, else the WebSocket only). */
  transports?: Transport[];
  /** A WebSocket not open by then gives way to the HTTP fallback (default 3000 ms). */
  fallbackAfterMs?: number;
  backoff?: BackoffPolicy;
  /** Open plus welcome must take less than this (default 10 s). */
  connectTimeoutMs?: number;
  /** A ping must be followed by some frame within this (default min(10 s, heartbeat)). */
  pongTimeoutMs?: number;
  /** Default timeout of `request()` and of the commands channels send (default 10 s). */
  requestTimeoutMs?: number;
  timers?: Timers;
  random?: () => number;
  now?: () => number;
}

export interface ClientEvents {
  state: ConnectionState;
  welcome: WelcomeMessage;
  /** Every message of every joined channel (each channel also emits its own). */
  message: ChannelMessage;
  /** A user this client sees changed their name or picture. */
  profile: UserInfo;
  /** An error frame that answers no request, or a token renewal that failed (`code: 'token'`). */
  error: { code: string; message: string };
  /** The link dropped; `delayMs` until the next attempt. */
  disconnect: { code: number; reason: string; delayMs: number };
  closed: ClosedInfo;
  /** The token was replaced on the live socket; `expiresAt` in ms. */
  refreshed: { expiresAt: number };
  /** Any channel's `joined` event, with its name. */
  joined: ChannelEvents['joined'] & { action: string };
  /** Any channel's `left` event, with its name. */
  left: ChannelEvents['left'] & { action: string };
}
