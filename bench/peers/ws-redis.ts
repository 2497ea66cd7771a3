/**
 * Peer (c): `ws` + ioredis the way tutorials build it. Rooms are Sets of sockets; a publish
 * goes to Redis and every node (the sender's too) sends it to its local room members,
 * one `ws.send` per socket. Same JSON frames as the gateway; no auth, no presence.
 * Env: PORT (0 = any), HOST, REDIS_URL. Prints `listening <port>`.
 */
import { Redis } from 'ioredis';
import { WebSocketServer, WebSocket } from 'ws';

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
const rooms = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 0), perMessageDeflate: false });

sub.on('message', (channel: string, message: string) => {
  const room = rooms.get(channel.slice(5));
  if (!room) return;
  for (const client of room) if (client.readyState === WebSocket.OPEN) client.send(message);
});

function join(ws: WebSocket, joined: Set<string>, action: string): void {
  let room = rooms.get(action);
  if (!room) {
    room = new Set();
    rooms.set(action, room);
    void sub.subscribe(`room:${action}`);
  }
  room.add(ws);
  joined.add(action);
}

wss.on('connection', (ws) => {
  const joined = new Set<string>();
  ws.on('message', (raw, isBinary) => {
    if (isBinary) return;
    let msg: { type?: string; action?: string; data?: unknown; id?: unknown };
    try {
      msg = JSON.parse(raw.toString());
    } catch {
      return;
    }
    if (typeof msg.action !== 'string') return;
    if (msg.type === 'join') {
      join(ws, joined, msg.action);
      if (msg.id !== undefined) ws.send(JSON.stringify({ type: 'ack', id: msg.id }));
    } else if (msg.type === 'publish') {
      void pub.publish(`room:${msg.action}`, JSON.stringify({ type: 'message', action: msg.action, data: msg.data }));
    }
  });
  ws.on('close', () => {
    for (const action of joined) rooms.get(action)?.delete(ws);
  });
});

wss.on('listening', () => {
  const addr = wss.address();
  console.log(`listening ${typeof addr === 'object' && addr ? addr.port : addr}`);
});
process.on('SIGTERM', () => process.exit(0));
