/**
 * Peer (b): the practical ceiling. Bare uWebSockets.js + ioredis relay; no auth, no presence,
 * no validation beyond JSON.parse. Same JSON frames as the gateway: join -> ack, publish ->
 * {"type":"message","action","data"} to every member on every node except the sender.
 * Env: PORT (0 = any), HOST, REDIS_URL. Prints `listening <port>`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type * as UWS from 'uWebSockets.js';

// Load the native binary itself: the package entry silently falls back to a slow shim.
const require = createRequire(import.meta.url);
const uwsDir = dirname(require.resolve('uWebSockets.js/package.json'));
const uws = require(join(uwsDir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`)) as typeof UWS;

const node = randomBytes(4).toString('hex');
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
const app = uws.App();

sub.on('pmessage', (_pattern: string, channel: string, message: string) => {
  const nl = message.indexOf('\n');
  if (message.slice(0, nl) !== node) app.publish(channel.slice(6), message.slice(nl + 1), false);
});
await sub.psubscribe('relay:*');

app.ws('/*', {
  compression: uws.DISABLED,
  maxPayloadLength: 64 * 1024,
  maxBackpressure: 1024 * 1024,
  idleTimeout: 120,
  message(ws, raw, isBinary) {
    if (isBinary) return;
    let msg: { type?: string; action?: string; data?: unknown; id?: unknown };
    try {
      msg = JSON.parse(Buffer.from(raw).toString('utf8'));
    } catch {
      return;
    }
    if (typeof msg.action !== 'string') return;
    if (msg.type === 'join') {
      ws.subscribe(msg.action);
      if (msg.id !== undefined) ws.send(JSON.stringify({ type: 'ack', id: msg.id }), false);
    } else if (msg.type === 'publish') {
      const out = JSON.stringify({ type: 'message', action: msg.action, data: msg.data });
      ws.publish(msg.action, out, false);
      void pub.publish(`relay:${msg.action}`, `${node}\n${out}`);
    }
  },
});

app.listen(process.env.HOST ?? '127.0.0.1', Number(process.env.PORT ?? 0), (socket) => {
  if (!socket) {
    console.error('could not listen');
    process.exit(1);
  }
  console.log(`listening ${uws.us_socket_local_port(socket)}`);
});
process.on('SIGTERM', () => process.exit(0));
