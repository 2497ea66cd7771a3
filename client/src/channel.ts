/**
 * One action (a named channel) as an app uses it: one object per name, from `client.channel()`.
 *
 * Contract:
 * - `join()` makes the client keep the action joined: now when connected (resolves with the
 *   ack's result), and again after every reconnect, all channels in one `joins` frame, each
 *   recovering from the largest offset it saw with its epoch (memberships.ts). A refusal rejects
 *   with a RequestError carrying the server's code, and the channel is no longer kept.
 * - `message` events arrive once each, in order, on actions with history across reconnects (a
 *   re-join that could not recover says so with `unrecovered`); at most once without history.
 * - `left`: the backend removed this connection (or refused a re-join): the channel is no
 *   longer kept, until the next `join()`.
 * - `members()` reads the room's members (namespaces with room presence) page by page and keeps
 *   them from then on: `room` events are applied by their `seq` (members.ts rules) and passed on;
 *   the list is read again after a reconnect or a `room_reset`.
 */
import type { ActionMessage, JoinResult, MembersResult, PublishResult, RoomChange, RoomMessage, UserInfo } from '../../shared/protocol.js';
import { Emitter } from './emitter.js';
import type { RequestError } from './errors.js';
import type { Command } from './link.js';
import type { JoinOptions, Memberships, StreamPosition } from './memberships.js';
import { RoomMembers } from './room-members.js';

/** A message as a channel delivers it. */
export type ChannelMessage = Pick<ActionMessage, 'data' | 'from' | 'offset' | 'ts'> & { action: string };

export interface ChannelEvents {
  message: ChannelMessage;
  /** A join's ack: asked for with `join()` (`rejoin` false), or repeated after a reconnect. */
  joined: { result: JoinResult; rejoin: boolean };
  /** No longer joined: the backend removed this connection (`reason`), or a re-join was refused (`error`). */
  left: { reason: string; error?: RequestError };
  /** A re-join could not recover what was published meanwhile: reload the state (`reloading`: the client asks for `history` again). */
  unrecovered: { result: JoinResult; reloading: boolean };
  /** Room presence changes applied to `members()`'s list (users whose first connection joined, or last left). */
  room: RoomChange[];
  /** The member list after a read or a `room` event changed it. */
  members: UserInfo[];
}

/** What a channel needs of its client. */
export interface ChannelHost {
  readonly memberships: Memberships;
  request<T>(cmd: Command): Promise<T>;
  /** Join now (when connected); keeps the wish for later reconnects otherwise. */
  join(channel: Channel, opts?: JoinOptions): Promise<JoinResult>;
  leave(channel: Channel): Promise<void>;
  /** Every event a channel emits, also seen by the client (its `joined` and `left` events). */
  emitted<K extends keyof ChannelEvents>(channel: Channel, event: K, value: ChannelEvents[K]): void;
}

export class Channel {
  private readonly events = new Emitter<ChannelEvents>();
  private room: RoomMembers | undefined;
  private reading: Promise<UserInfo[]> | undefined;
  private readonly people = new Map<string, UserInfo>();

  constructor(readonly name: string, private readonly host: ChannelHost) {}

  on<K extends keyof ChannelEvents>(event: K, fn: (value: ChannelEvents[K]) => void): () => void {
    return this.events.on(event, fn);
  }

  /** Whether the client keeps this channel joined (across reconnects). */
  get joined(): boolean {
    return this.host.memberships.has(this.name);
  }

  /** The stream position held (actions with history): where the next re-join recovers from. */
  get position(): StreamPosition | undefined {
    return this.host.memberships.position(this.name);
  }

  /** Join now and keep joined; `history: N` asks for the last N messages first (actions with history). */
  join(opts?: JoinOptions): Promise<JoinResult> {
    return this.host.join(this, opts);
  }

  /** Stop keeping the channel joined; tells the server when connected. */
  leave(): Promise<void> {
    this.room = undefined;
    return this.host.leave(this);
  }

  /** Publish `data` to the other members (`echo`: to this client too); resolves on the server's ack. */
  publish(data: unknown, opts: { echo?: boolean } = {}): Promise<PublishResult> {
    const cmd: Command = opts.echo === undefined ? { type: 'publish', action: this.name, data } : { type: 'publish', action: this.name, data, echo: opts.echo };
    return this.host.request<PublishResult>(cmd);
  }

  /** The room's members, every page read (joined channels of namespaces with room presence); kept up to date from then on. */
  members(): Promise<UserInfo[]> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<UserInfo[]> {
    const room = (this.room ??= new RoomMembers(this.name, (msg) => this.events.emit('room', msg.changes)));
    await room.read((action, cursor) => this.host.request<MembersResult>(cursor === undefined ? { type: 'members', action } : { type: 'members', action, cursor }),
      (page) => page.users.forEach((u) => this.people.set(u.id, u)));
    const list = this.memberList();
    this.events.emit('members', list);
    return list;
  }

  /** The members as last read and updated (empty before `members()`). */
  memberList(): UserInfo[] {
    return this.room ? this.room.list().map((id) => this.people.get(id) ?? { id, username: id, displayName: id }) : [];
  }

  /** @internal A message of this channel. */
  receive(m: ChannelMessage): void {
    this.events.emit('message', m);
  }

  /** @internal A room frame for this channel. */
  deliver(msg: RoomMessage | { type: 'room_reset' }): void {
    if (msg.type === 'room_reset') return void this.reread();
    if (!this.room) return;
    // Names first: an event held until the first page is applied later, without coming here again.
    for (const c of msg.changes) if (c.status === 'joined' && !this.people.has(c.userId)) this.people.set(c.userId, { id: c.userId, username: c.username, displayName: c.username });
    if (!this.room.apply(msg)) return;
    this.events.emit('room', msg.changes);
    this.events.emit('members', this.memberList());
  }

  /** @internal Events the client reports for this channel. */
  emit<K extends keyof ChannelEvents>(event: K, value: ChannelEvents[K]): void {
    if (event === 'left') this.room = undefined;
    this.events.emit(event, value);
    this.host.emitted(this, event, value);
  }

  /** @internal Read the members again (a reconnect, a `room_reset`), when they are followed. */
  async reread(): Promise<void> {
    if (this.room) await this.members().catch(() => {});
  }
}
