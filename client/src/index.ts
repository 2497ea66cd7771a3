/**
 * @realtime-gateway/client: a typed client for the realtime gateway (PROTOCOL.md), for browsers,
 * React Native, Web Workers and Node. No dependencies. See client/README.md.
 */
export { RealtimeClient } from './client.js';
export type { ClientEvents, ClientOptions, ClosedInfo, ConnectionState, Transport } from './options.js';
export { Channel } from './channel.js';
export type { ChannelEvents, ChannelMessage } from './channel.js';
export { Presence } from './presence.js';
export type { PresenceUpdate } from './presence.js';
export { RequestError, UnauthorizedError } from './errors.js';
export { Emitter } from './emitter.js';
export { tokenExpired, tokenExpiry } from './token.js';
export type { Command, SocketLike, WebSocketConstructor } from './link.js';
export type { JoinOptions, StreamPosition } from './memberships.js';
export type { GetToken, TokenReason } from './token.js';
export { compareOffsets } from '../../shared/offsets.js';
export { CloseCodes, ErrorCodes } from '../../shared/protocol.js';
export type {
  ActionMessage, CommandResults, ErrorCode, JoinResult, JoinsResult, MembersResult, OnlinePage, PresenceChange, PublishResult,
  RoomChange, SearchResult, SearchUser, ServerMessage, UserInfo, WatchResult, WelcomeMessage,
} from '../../shared/protocol.js';
