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
import { acquire, release } from './refs.js';

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
    const entry = acquire(client, name, history === undefined ? undefined : { history }, setError);
    return () => {
      offs.forEach((off) => off());
      release(client, name, entry);
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
    const entry = acquire(client, name, undefined, setError);
    if (channel.joined && client.state === 'connected') read();
    return () => {
      offs.forEach((off) => off());
      release(client, name, entry);
    };
  }, [client, channel, name]);
  return { members, error };
}
