/**
 * @realtime-gateway/client/react: React bindings for the client package (React 18 or 19, an
 * optional peer dependency; the core entry does not depend on it).
 *
 *   <RealtimeProvider client={client}>…</RealtimeProvider>
 *   const state = useConnectionState();
 *   const { publish, channel } = useChannel('ticker', (m) => …);
 *   const online = usePresence();
 *   const { members } = useRoomMembers('lounge');
 *
 * Channels are reference counted per client: components using the same name share one join, and
 * the channel is left when the last of them unmounts. A leave waits for the end of the current
 * task, so StrictMode's mount → unmount → mount in development (or a component that moves)
 * neither drops the subscription nor sends a join, a leave and a join again. Handlers are read
 * from a ref: the newest one is called, once per message, without re-subscribing when it changes
 * identity on every render. No DOM APIs: the hooks run in React Native too.
 */
export { RealtimeProvider, useRealtimeClient } from './provider.js';
export { useChannel, useConnectionState, usePresence, useRoomMembers } from './hooks.js';
export type { ChannelHook, RoomMembersHook } from './hooks.js';
