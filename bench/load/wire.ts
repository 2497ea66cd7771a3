/**
 * What a load client says to each kind of server. The gateway and the two bare peers speak
 * the gateway's JSON frames; Socket.IO speaks Engine.IO 4 / Socket.IO 5 packets, spoken here
 * directly over `ws` so every server is driven by the same client library.
 */
export type ServerKind = 'ours' | 'uws' | 'ws' | 'socketio';

export const LABELS: Record<ServerKind, string> = {
  ours: 'ours (gateway)',
  uws: 'uWS relay',
  ws: 'ws+ioredis',
  socketio: 'Socket.IO',
};

export interface Wire {
  /** True when the server wants a JWT in the URL. */
  auth: boolean;
  url(base: string, token?: string): string;
  /** True when the open socket is usable at once (no welcome or connect packet to wait for). */
  readyAtOpen: boolean;
  /** The frame that says "you are in" (our welcome, Socket.IO's namespace connect). */
  isWelcome(text: string): boolean;
  /** An answer the protocol requires for this frame (Engine.IO open and ping), if any. */
  answer(text: string): string | undefined;
  /** Frames sent right after the welcome by a client that wants no presence frames (ours: `watch []`). */
  quiet(): string[];
  /** The frame that joins `action`, asking for an ack with id `id`. */
  join(action: string, id: number): string;
  isAck(text: string, id: number): boolean;
  isError(text: string): boolean;
  /** A publish frame carrying `data` (a JSON text). */
  publish(action: string, data: string): string;
}

const json: Omit<Wire, 'auth' | 'url' | 'readyAtOpen' | 'isWelcome'> = {
  answer: () => undefined,
  quiet: () => [],
  join: (action, id) => JSON.stringify({ type: 'join', action, id }),
  isAck: (text, id) => text.startsWith('{"type":"ack"') && text.includes(`"id":${id}`),
  isError: (text) => text.startsWith('{"type":"error"'),
  publish: (action, data) => `{"type":"publish","action":${JSON.stringify(action)},"data":${data}}`,
};

const ours: Wire = {
  ...json,
  auth: true,
  url: (base, token) => `${base}/ws?token=${encodeURIComponent(token ?? '')}`,
  readyAtOpen: false,
  isWelcome: (text) => text.startsWith('{"type":"welcome"'),
  quiet: () => ['{"type":"watch","users":[]}'],
};

const bare: Wire = {
  ...json,
  auth: false,
  url: (base) => `${base}/`,
  readyAtOpen: true,
  isWelcome: () => false,
};

/** Engine.IO: `0{..}` open, `2` ping, `3` pong, `4` message; Socket.IO inside: `0` connect, `2` event, `3` ack. */
const socketio: Wire = {
  auth: false,
  url: (base) => `${base}/socket.io/?EIO=4&transport=websocket`,
  readyAtOpen: false,
  isWelcome: (text) => text.startsWith('40'),
  answer(text) {
    if (text === '2') return '3';
    if (text.startsWith('0{')) return '40';
    return undefined;
  },
  quiet: () => [],
  join: (action, id) => `42${id}${JSON.stringify(['join', action])}`,
  isAck: (text, id) => text.startsWith(`43${id}[`),
  isError: (text) => text.startsWith('44'),
  publish: (action, data) => `42["publish",{"action":${JSON.stringify(action)},"data":${data}}]`,
};

export const WIRES: Record<ServerKind, Wire> = { ours, uws: bare, ws: bare, socketio };

/** The payload of a timed message: a send time and padding up to `bytes` of JSON. */
export function timedData(sentAt: number, bytes: number): string {
  const head = `{"t":${sentAt.toFixed(3)},"p":"`;
  return `${head}${'x'.repeat(Math.max(0, bytes - head.length - 2))}"}`;
}

export const TIME_KEY = Buffer.from('"t":');
