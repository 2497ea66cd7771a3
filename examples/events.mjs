// Follow the gateway's event stream and keep a local copy of who is online, the way a backend
// would: one consumer group, at-least-once (XACK after handling), deduped by entry id.
// Plain Node.js 20 + ioredis (already a dependency of the gateway).
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), REDIS_PREFIX (the gateways' prefix,
// default empty), GROUP (default `example`), CONSUMER (default `<hostname>-<pid>`),
// COUNT (stop after handling N entries; default: run until Ctrl-C).
//
// Start: a new group replays the stream from its first entry when the stream still holds every
// entry ever added; otherwise (trimmed, or Redis restarted empty: NOGROUP) it starts at the end
// and loads the current set from online_users first. Every later event then sets a user's state,
// in order, so the copy converges on the cluster's.
import { hostname } from 'node:os';
import { Redis } from 'ioredis';

const prefix = process.env.REDIS_PREFIX ?? '';
const stream = `${prefix}events`;
const group = process.env.GROUP ?? 'example';
const consumer = process.env.CONSUMER ?? `${hostname()}-${process.pid}`;
const limit = process.env.COUNT ? Number(process.env.COUNT) : Infinity;
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

const online = new Set();
const seen = new Set(); // entry ids handled (a redelivered entry is skipped); bounded below
let handled = 0;

/** Rebuild the copy from online_users: at start of a group created late, or after a gap. */
async function reload() {
  online.clear();
  for (const id of await redis.smembers(`${prefix}online_users`)) online.add(id);
  console.log(`loaded ${online.size} online users from ${prefix}online_users`);
}

function apply(id, fields) {
  if (seen.has(id)) return;
  seen.add(id);
  if (seen.size > 100_000) seen.delete(seen.values().next().value);
  const e = {};
  for (let i = 0; i + 1 < fields.length; i += 2) e[fields[i]] = fields[i + 1];
  if (e.type === 'online') online.add(e.userId);
  if (e.type === 'offline') online.delete(e.userId);
  if (e.type === 'online' || e.type === 'offline') {
    console.log(`${e.type.padEnd(7)} ${e.userId} (${e.username}) via ${e.node}, ${e.reason}; ${online.size} online`);
  } else {
    console.log(`${e.type.padEnd(7)} ${e.userId} ${e.type === 'joined' ? 'to' : 'from'} ${e.action} (${e.reason})`);
  }
  handled += 1;
}

/** Create the group if needed: from the start when nothing was trimmed, else from now after a reload. */
async function ensureGroup(recreated = false) {
  try {
    await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  } catch (err) {
    if (String(err.message).includes('BUSYGROUP')) return recreated ? reload() : undefined;
    throw err;
  }
  const info = await redis.xinfo('STREAM', stream);
  const field = (name) => Number(info[info.indexOf(name) + 1]);
  if (recreated || field('entries-added') > field('length')) {
    await redis.xgroup('SETID', stream, group, '$');
    await reload();
  }
}

async function main() {
  await ensureGroup();
  // Our own unacknowledged entries first (a previous run that crashed), then new ones.
  let cursor = '0';
  while (handled < limit) {
    const reply = await read(cursor);
    const entries = reply?.[0]?.[1] ?? [];
    if (cursor !== '>' && entries.length === 0) {
      cursor = '>';
      continue;
    }
    for (const [id, fields] of entries) {
      if (fields) apply(id, fields); // null fields: the entry was trimmed while pending
    }
    if (entries.length > 0) await redis.xack(stream, group, ...entries.map(([id]) => id));
    if (cursor !== '>') cursor = entries.at(-1)[0];
  }
}

/** One read; after Redis came back empty (NOGROUP) the group is created again and the copy reloaded. */
async function read(cursor) {
  try {
    const block = cursor === '>' ? ['BLOCK', 5000] : [];
    return await redis.xreadgroup('GROUP', group, consumer, 'COUNT', 100, ...block, 'STREAMS', stream, cursor);
  } catch (err) {
    if (!/NOGROUP/.test(err.message)) throw err;
    console.log('the stream was recreated (Redis restarted empty): reloading');
    await ensureGroup(true);
    return null;
  }
}

process.on('SIGINT', () => {
  redis.disconnect();
  process.exit(0);
});
main()
  .then(() => redis.quit())
  .catch((err) => {
    console.error(`events example stopped: ${err.message}`);
    redis.disconnect();
    process.exit(1);
  });
