/**
 * The hooks. Channel joins are reference counted per client (see index.ts); a refused join is
 * reported in the hook's `error`, not thrown.
 */
import { useCallback, useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Channel, ChannelMessage } from '../channel.js';
import type { ConnectionState, RealtimeClient } from '../client.js';
import type { JoinOptions } from '../memberships.js';
import type { Presence } from '../presence.js';
import type { PublishResult, UserInfo } from '../../../shared/protocol.js';
import { useRealtimeClient } from './provider.js';

/** Components using a channel, its pending leave, and the join they share (every one of them hears its refusal). */
interface Users { count: number; leaving?: ReturnType<typeof setTimeout>; join?: Promise<unknown> }
const users = new WeakMap<RealtimeClient, Map<string, Users>>();

/** One more component uses `name`: the first one joins (a pending leave is called off instead). */
function acquire(client: RealtimeClient, name: string, opts: JoinOptions | undefined, failed: (err: Error) => void): void {
  let byName = users.get(client);
  if (!byName) users.set(client, (byName = new Map()));
  const entry = byName.get(name) ?? { count: 0 };
  byName.set(name, entry);
  entry.count += 1;
  if (entry.leaving !== undefined) {
    clearTimeout(entry.leaving);
    entry.leaving = undefined;
  } else if (entry.count === 1 && !entry.join) {
    // A refusal ends this entry, so a later mount asks again.
    entry.join = client.channel(name).join(opts).catch((err: unknown) => {
      if (byName!.get(name) === entry) byName!.delete(name);
      throw err;
    });
  }
  entry.join?.catch(failed);
}

/** One component fewer: the last one leaves, at the end of this task (a remount in between keeps the join). */
function release(client: RealtimeClient, name: string): void {
  const byName = users.get(client);
  const entry = byName?.get(name);
  if (!byName || !entry || (entry.count -= 1) > 0) return;
  entry.leaving = setTimeout(() => {
    if (entry.count > 0) return;
    byName.delete(name);
    void client.channel(name).leave();
  }, 0);
}

/** The value of `fn` as of the last render, for callbacks that must not re-subscribe when it changes. */
function useLatest<T>(value: T): { readonly current: T } {
  const ref = useRef(value);
  useEffect(() => {
    ref.current = value;
  });
  return ref;
}

/** The connection's state, re-rendering on each change. */
export function useConnectionState(): ConnectionState {
  const client = useRealtimeClient();
  const subscribe = useCallback((changed: () => void) => client.on('state', changed), [client]);
  return useSyncExternalStore(subscribe, () => client.state, () => client.state);
}

export interface ChannelHook {
  channel: Channel;
  publish(data: unknown, opts?: { echo?: boolean }): Promise<PublishResult>;
  /** The refusal of the join (forbidden, …) or of a re-join; undefined while all is well. */
  error: Error | undefined;
}

/** Join `name` while the component is mounted; `onMessage` (the newest one) gets each message once. */
export function useChannel(name: string, onMessage?: (message: ChannelMessage) => void, opts?: JoinOptions): ChannelHook {
  const client = useRealtimeClient();
  const channel = client.channel(name);
  const handler = useLatest(onMessage);
  const [error, setError] = useState<Error | undefined>(undefined);
  const history = opts?.history;
  useEffect(() => {
    setError(undefined);
    const offs = [
      channel.on('message', (m) => handler.current?.(m)),
      channel.on('left', ({ error: e }) => e && setError(e)),
      channel.on('joined', () => setError(undefined)),
    ];
    acquire(client, name, history === undefined ? undefined : { history }, setError);
    return () => {
      offs.forEach((off) => off());
      release(client, name);
    };
  }, [client, channel, name, history, handler]);
  const publish = useCallback((data: unknown, o?: { echo?: boolean }) => channel.publish(data, o), [channel]);
  return { channel, publish, error };
}

const snapshots = new WeakMap<Presence, { version: number; at: number; set?: ReadonlySet<string> }>();

/** A copy of the online set that changes identity exactly when the set changed (what useSyncExternalStore needs). */
function snapshot(presence: Presence): ReadonlySet<string> {
  let s = snapshots.get(presence);
  if (!s) {
    const state = (s = { version: 0, at: -1 });
    snapshots.set(presence, s);
    presence.on('change', () => (state.version += 1));
  }
  if (s.set === undefined || s.at !== s.version) {
    s.set = new Set(presence.online);
    s.at = s.version;
  }
  return s.set;
}

/** The cluster's online users (client.presence.online), re-rendering on each change. */
export function usePresence(): ReadonlySet<string> {
  const presence = useRealtimeClient().presence;
  const subscribe = useCallback((changed: () => void) => presence.on('change', changed), [presence]);
  const get = () => snapshot(presence);
  return useSyncExternalStore(subscribe, get, get);
}

export interface RoomMembersHook {
  members: UserInfo[];
  /** The refusal of the join or of the member list (`forbidden` where room presence is off). */
  error: Error | undefined;
}

/** The members of room `name` (joined while mounted, shared with useChannel), live. */
export function useRoomMembers(name: string): RoomMembersHook {
  const client = useRealtimeClient();
  const channel = client.channel(name);
  const [members, setMembers] = useState<UserInfo[]>(() => channel.memberList());
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    const read = () => void channel.members().then(() => setError(undefined), setError);
    const offs = [channel.on('members', setMembers), channel.on('joined', read), channel.on('left', () => setMembers([]))];
    acquire(client, name, undefined, setError);
    if (channel.joined && client.state === 'connected') read();
    return () => {
      offs.forEach((off) => off());
      release(client, name);
    };
  }, [client, channel, name]);
  return { members, error };
}
