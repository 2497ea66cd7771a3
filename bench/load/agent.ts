/**
 * A load-generating child process (forked by agents.ts, one of several so the generator
 * is not the bottleneck). It holds groups of clients, each with a role:
 *   sub     records publish-to-receive latency of every timed message
 *   pub     sends timed messages at a fixed rate when told
 *   watch   keeps a presence view (ours) and notes when it last changed
 *   idle    only holds its connection
 * Commands arrive over IPC as {seq, cmd, ...}; each gets one reply {seq, ok, result|error}.
 */
import { SignJWT } from 'jose';
import { LoadClient, pool } from './client.js';
import { Histogram, wallMs } from './stats.js';
import { timedData, TIME_KEY, WIRES, type ServerKind } from './wire.js';

export type Role = 'sub' | 'pub' | 'watch' | 'idle';

export interface OpenCommand {
  cmd: 'open';
  group: string;
  role: Role;
  kind: ServerKind;
  /** Server base URLs (ws://host:port); clients are spread over them round-robin. */
  urls: string[];
  count: number;
  /** User ids are `${userPrefix}${firstIndex + i}`. */
  userPrefix: string;
  firstIndex: number;
  join?: string;
  watchNone: boolean;
  secret?: string;
  concurrency: number;
  timeoutMs: number;
  /** Wall-clock ms to start connecting at (tokens are signed before), for storms. */
  startAt?: number;
  /** Watchers: the users whose presence to track. */
  track?: { prefix: string; count: number };
}
export interface PublishCommand { cmd: 'publish'; group: string; action: string; rate: number; durationMs: number; bytes: number }
export interface StatsCommand { cmd: 'stats'; reset: boolean }
export interface ReconnectCommand { cmd: 'reconnect'; group: string; windowMs: number; timeoutMs: number }
export interface CloseCommand { cmd: 'close'; group?: string }
export type Command = OpenCommand | PublishCommand | StatsCommand | ReconnectCommand | CloseCommand;

/** One watcher's picture of presence for the tracked users; frames and changes about other users are not counted. */
class View {
  readonly online = new Set<string>();
  frames = 0;
  changes = 0;
  lastChangeAt = 0;
  /** Which snapshot the pages being walked belong to (one more per presence_reset). */
  generation = 0;
  /** The cursor of the page last asked for (asked again after a `rate_limited`). */
  asked: string | undefined;
  constructor(private readonly track: { prefix: string; count: number }) {}

  /** Apply one presence frame's changes to tracked users; a welcome's online list is applied with `counted` false. */
  apply(changes: Array<{ userId: string; status: string }>, counted = true): void {
    let tracked = 0;
    for (const c of changes) {
      if (!c.userId.startsWith(this.track.prefix)) continue;
      tracked += 1;
      if (c.status === 'online') this.online.add(c.userId);
      else this.online.delete(c.userId);
    }
    if (tracked === 0 || !counted) return;
    this.frames += 1;
    this.changes += tracked;
    this.lastChangeAt = wallMs();
  }

  /** A presence_reset (or its first page): the tracked users online are exactly these, until later pages and changes. */
  replace(userIds: string[]): void {
    this.generation += 1;
    this.online.clear();
    this.addPage(userIds);
    this.frames += 1;
    this.lastChangeAt = wallMs();
  }

  addPage(userIds: string[]): void {
    for (const id of userIds) if (id.startsWith(this.track.prefix)) this.online.add(id);
    this.lastChangeAt = wallMs();
  }

  report() {
    return { frames: this.frames, changes: this.changes, online: this.online.size, complete: this.online.size === this.track.count, lastChangeAt: this.lastChangeAt };
  }
}

interface Group {
  spec: OpenCommand;
  clients: LoadClient[];
  hist: Histogram;
  received: number;
  presenceFrames: number;
  views: Map<LoadClient, View>;
}

const groups = new Map<string, Group>();
const agentIndex = Number(process.env.BENCH_AGENT_INDEX ?? 0);
let opened = 0;

/** Source addresses spread over 127.x.y.z so no single address runs out of ephemeral ports. */
function sourceAddress(): string {
  opened += 1;
  return `127.${1 + (agentIndex % 250)}.${1 + (Math.floor(opened / 250) % 250)}.${1 + (opened % 250)}`;
}

const PRESENCE = '{"type":"presence"';
const RESET = '{"type":"presence_reset"';
const COUNT = '{"type":"presence_count"';
/** Page requests carry their snapshot's generation: `page<n>`. */
const PAGE_ACK = '{"type":"ack","id":"page';
const PAGE_ERROR = '{"type":"error","id":"page';
/** A page refused by the message rate limit is asked again after this, as the page does. */
const PAGE_RETRY_MS = 500;

/**
 * Ask for the next page of the online set, as the page does after a snapshot with a cursor.
 * Like the page (web/src/people.ts), only the newest snapshot's walk goes on: a walk started by
 * an earlier presence_reset stops at its next answer.
 */
function nextPage(client: LoadClient, view: View, cursor: string | undefined): void {
  view.asked = cursor;
  if (cursor && client.ws?.readyState === client.ws?.OPEN) client.ws!.send(JSON.stringify({ type: 'online', cursor, id: `page${view.generation}` }));
}

/** presence_reset and the pages after it, for watchers (a client without a view ignores them). */
function onSnapshotFrame(g: Group, buf: Buffer, client: LoadClient): boolean {
  const head = buf.toString('latin1', 0, PAGE_ACK.length);
  const view = g.views.get(client);
  if (head.startsWith(RESET)) {
    g.presenceFrames += 1;
    const msg = JSON.parse(buf.toString()) as { online: string[]; onlineCursor?: string };
    if (!view) return true;
    view.replace(msg.online);
    nextPage(client, view, msg.onlineCursor);
    return true;
  }
  if (head === PAGE_ERROR.slice(0, PAGE_ACK.length) && buf.toString('latin1', 0, PAGE_ERROR.length) === PAGE_ERROR) {
    const { id, code } = JSON.parse(buf.toString()) as { id: string; code: string };
    if (!view || id !== `page${view.generation}` || code !== 'rate_limited') return true;
    const { generation, asked } = view;
    setTimeout(() => view.generation === generation && nextPage(client, view, asked), PAGE_RETRY_MS);
    return true;
  }
  if (head === PAGE_ACK) {
    const { id, result } = JSON.parse(buf.toString()) as { id: string; result: { users: string[]; cursor?: string } };
    if (!view || id !== `page${view.generation}`) return true;
    view.addPage(result.users);
    nextPage(client, view, result.cursor);
    return true;
  }
  return false;
}

function onFrame(g: Group) {
  return (buf: Buffer, client: LoadClient) => {
    const i = buf.indexOf(TIME_KEY);
    if (i >= 0) {
      g.hist.record(wallMs() - parseFloat(buf.toString('latin1', i + 4, i + 24)));
      g.received += 1;
    } else if (onSnapshotFrame(g, buf, client)) {
      // counted by onSnapshotFrame
    } else if (buf.toString('latin1', 0, COUNT.length) === COUNT) {
      g.presenceFrames += 1;
    } else if (buf.toString('latin1', 0, PRESENCE.length) === PRESENCE) {
      g.presenceFrames += 1;
      g.views.get(client)?.apply(JSON.parse(buf.toString()).changes);
    }
  };
}

async function tokens(c: OpenCommand): Promise<Array<string | undefined>> {
  if (!WIRES[c.kind].auth) return new Array(c.count).fill(undefined);
  const key = new TextEncoder().encode(c.secret);
  const exp = Math.floor(Date.now() / 1000) + 7200;
  return Promise.all(Array.from({ length: c.count }, (_, i) =>
    new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(`${c.userPrefix}${c.firstIndex + i}`).setIssuedAt().setExpirationTime(exp).sign(key)));
}

async function open(c: OpenCommand) {
  const wire = WIRES[c.kind];
  const g: Group = groups.get(c.group) ?? { spec: c, clients: [], hist: new Histogram(), received: 0, presenceFrames: 0, views: new Map() };
  groups.set(c.group, g);
  const signed = await tokens(c);
  const fresh = signed.map((token, i) => {
    const spec = { wire, url: wire.url(c.urls[i % c.urls.length], token), join: c.join, watchNone: c.watchNone, localAddress: sourceAddress(), timeoutMs: c.timeoutMs };
    const client = new LoadClient(`${c.userPrefix}${c.firstIndex + i}`, spec, onFrame(g), c.role === 'watch');
    if (c.track) g.views.set(client, new View(c.track));
    return client;
  });
  g.clients.push(...fresh);
  if (c.startAt) await new Promise((r) => setTimeout(r, Math.max(0, c.startAt! - wallMs())));
  const startedAt = wallMs();
  const retried: string[] = [];
  const result = await pool(fresh.map((client) => async () => {
    // One more attempt, as a real client would reconnect; counted and reported.
    await client.connect().catch((err: Error) => {
      retried.push(err.message);
      return client.connect();
    });
    const view = g.views.get(client);
    if (view && client.welcome) {
      const online: string[] = JSON.parse(client.welcome).online;
      view.apply(online.map((userId) => ({ userId, status: 'online' })), false);
    }
  }), c.concurrency);
  const welcomes = fresh.filter((x) => x.open).map((x) => x.welcomedAt);
  return {
    ...result, startedAt, firstWelcome: Math.min(...welcomes), lastWelcome: Math.max(...welcomes), open: welcomes.length,
    retried: retried.length, firstRetryReason: retried[0],
  };
}

async function publish(c: PublishCommand) {
  const wire = WIRES[groups.get(c.group)!.spec.kind];
  const pubs = groups.get(c.group)!.clients.filter((x) => x.open);
  const total = Math.round((c.rate * c.durationMs) / 1000);
  const start = wallMs();
  let sent = 0;
  let maxBuffered = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((wallMs() - start) * c.rate) / 1000));
      for (; sent < due; sent += 1) {
        const client = pubs[sent % pubs.length];
        client.send(wire.publish(c.action, timedData(wallMs(), c.bytes)));
        maxBuffered = Math.max(maxBuffered, client.ws!.bufferedAmount);
      }
      if (sent >= total || wallMs() - start > c.durationMs * 3) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  return { sent, elapsedMs: wallMs() - start, maxBuffered };
}

function stats(c: StatsCommand) {
  const out: Record<string, unknown> = {};
  for (const [name, g] of groups) {
    out[name] = {
      received: g.received, hist: g.hist.toJSON(), presenceFrames: g.presenceFrames,
      open: g.clients.filter((x) => x.open).length, views: [...g.views.values()].map((v) => v.report()),
    };
    if (c.reset) {
      g.received = 0;
      g.presenceFrames = 0;
      g.hist = new Histogram();
    }
  }
  return out;
}

/** Every client of the group closes at a random moment within the window and connects again to the next URL. */
async function reconnect(c: ReconnectCommand) {
  const g = groups.get(c.group)!;
  const urls = g.spec.urls;
  const startedAt = wallMs();
  const result = await pool(g.clients.map((client) => async () => {
    await new Promise((r) => setTimeout(r, Math.random() * c.windowMs));
    await client.close();
    const at = urls.findIndex((u) => client.spec.url.startsWith(`${u}/`));
    const next = urls[(at + 1) % urls.length];
    client.spec = { ...client.spec, url: client.spec.url.replace(urls[at], next), localAddress: sourceAddress(), timeoutMs: c.timeoutMs };
    await client.connect();
  }), g.clients.length);
  return { ...result, startedAt, lastWelcome: Math.max(...g.clients.map((x) => x.welcomedAt)) };
}

async function close(c: CloseCommand) {
  const names = c.group ? [c.group] : [...groups.keys()];
  for (const name of names) {
    await pool(groups.get(name)?.clients.map((x) => () => x.close()) ?? [], 500);
    groups.delete(name);
  }
  return { closed: names.length };
}

const handlers = { open, publish, stats, reconnect, close } as Record<Command['cmd'], (c: Command) => unknown>;

process.on('message', (msg: Command & { seq: number }) => {
  Promise.resolve()
    .then(() => handlers[msg.cmd](msg))
    .then((result) => process.send!({ seq: msg.seq, ok: true, result }))
    .catch((err: Error) => process.send!({ seq: msg.seq, ok: false, error: err.stack ?? String(err) }));
});
process.on('disconnect', () => process.exit(0));
