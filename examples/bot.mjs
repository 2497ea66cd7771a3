// A bot on the client package, as a Node service would run one: it joins an action, answers
// `!ping` and `!who` there, and survives a gateway restart or a node's death by itself (the
// package reconnects with backoff, to the next URL of GATEWAY_URLS, and re-joins).
//
//   BOT_TOKEN=$(npm run -s token -- bot --ttl 1d) npm run demo:bot
//
// Environment:
//   GATEWAY_URLS  comma-separated WebSocket URLs (default ws://localhost:8080/ws); each
//                 reconnect tries the next one, so a bot needs no load balancer
//   BOT_TOKEN     an access token for the bot's user (the CLI above signs one)
//   ACTION        where it listens and answers (default lobby)
//   COUNT         stop after answering this many commands (default: run until Ctrl-C)
// Exit codes: 0 after COUNT answers or Ctrl-C, 1 without a token or when the gateway ends the
// session (token expired or revoked, or the backend disconnected the bot: close 4003).
import { RealtimeClient, UnauthorizedError } from '@realtime-gateway/client';
import WebSocket from 'ws'; // Node 20 has no global WebSocket; Node 22+ can drop this option

const urls = (process.env.GATEWAY_URLS ?? 'ws://localhost:8080/ws').split(',').map((u) => u.trim()).filter(Boolean);
const token = process.env.BOT_TOKEN;
const action = process.env.ACTION ?? 'lobby';
const count = process.env.COUNT === undefined ? Infinity : Number(process.env.COUNT);
if (!token) {
  console.error('bot: set BOT_TOKEN (e.g. BOT_TOKEN=$(npm run -s token -- bot --ttl 1d))');
  process.exit(1);
}

const client = new RealtimeClient(urls, {
  WebSocket,
  // One fixed token: when it expires the bot stops (a service would fetch a fresh one here).
  getToken: ({ reason }) => {
    if (reason === 'refresh' || reason === 'expired') throw new UnauthorizedError('the bot token expired', 'expired');
    return token;
  },
});
const channel = client.channel(action);
let answered = 0;

client.on('state', (state) => console.log(`bot: ${state}`));
client.on('welcome', (w) => console.log(`bot: welcome from node ${w.node} as @${w.user.username}`));
client.on('disconnect', (d) => console.log(`bot: link closed (${d.code}); next attempt in ${d.delayMs} ms`));
client.on('closed', (info) => {
  console.log(`bot: closed (${info.reason}): ${info.message}`);
  process.exit(info.reason === 'client' ? 0 : 1);
});
channel.on('joined', ({ result, rejoin }) => console.log(`bot: ${rejoin ? 're-joined' : 'joined'} ${action}${result.recovered ? `, ${result.delivered} missed messages recovered` : ''}`));

channel.on('message', async (m) => {
  if ('system' in m.from || m.from.userId === client.user?.id) return; // not from a person, or our own answer
  const text = typeof m.data === 'object' && m.data !== null ? m.data.text : m.data;
  let reply;
  if (text === '!ping') reply = `pong (node ${client.welcome?.node})`;
  else if (text === '!who') reply = `online now: ${client.presence.listed ? client.presence.count : `${client.presence.count} (too many to list)`}`;
  else return;
  try {
    await channel.publish({ text: `@${m.from.username} ${reply}` });
    answered += 1;
    if (answered >= count) client.close();
  } catch (err) {
    console.log(`bot: answer not sent (${err.code ?? err.message}); the next command will be answered`);
  }
});

process.on('SIGINT', () => client.close());
await client.connect().catch(() => {}); // a session that ends before its first welcome: 'closed' said why
await channel.join().catch((err) => {
  console.error(`bot: cannot join ${action}: ${err.message}`);
  process.exit(1);
});
