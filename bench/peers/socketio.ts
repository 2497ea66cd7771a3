/**
 * Peer (a): Socket.IO 4 with @socket.io/redis-adapter, WebSocket transport only, rooms as
 * actions. Events: `join` (action, ack) and `publish` ({action, data}); members get
 * `message` {action, data}, the sender excluded (socket.to). No auth, no presence.
 * Env: PORT (0 = any), HOST, REDIS_URL. Prints `listening <port>`.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: false, cors: { origin: '*' } });
io.adapter(createAdapter(pub, sub));

io.on('connection', (socket) => {
  socket.on('join', (action: unknown, ack?: () => void) => {
    if (typeof action !== 'string') return;
    void socket.join(action);
    if (typeof ack === 'function') ack();
  });
  socket.on('publish', (msg: { action?: unknown; data?: unknown }) => {
    if (typeof msg?.action !== 'string') return;
    socket.to(msg.action).emit('message', { action: msg.action, data: msg.data });
  });
});

http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const addr = http.address();
  console.log(`listening ${typeof addr === 'object' && addr ? addr.port : addr}`);
});
process.on('SIGTERM', () => process.exit(0));
