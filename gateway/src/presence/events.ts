/**
 * Reading what the presence scripts publish: never throws; anything that is not a well-formed
 * event is undefined (the caller logs and drops it).
 */
import type { PresenceChange, RoomChange } from '../../../shared/protocol.js';
import type { PresenceEvent, RoomEvent } from './types.js';

function parse(raw: string): { seq: number; changes: unknown[] } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { seq, changes } = value as { seq?: unknown; changes?: unknown };
  if (typeof seq !== 'number' || !Array.isArray(changes) || changes.length === 0) return undefined;
  return { seq, changes };
}

function isChange<S extends string>(c: unknown, statuses: readonly S[]): boolean {
  if (typeof c !== 'object' || c === null) return false;
  const { userId, username, status, ts } = c as Record<string, unknown>;
  return typeof userId === 'string' && typeof username === 'string' && typeof ts === 'number' && statuses.includes(status as S);
}

export function parsePresenceEvent(raw: string): PresenceEvent | undefined {
  const e = parse(raw);
  return e && e.changes.every((c) => isChange(c, ['online', 'offline'])) ? { seq: e.seq, changes: e.changes as PresenceChange[] } : undefined;
}

export function parseRoomEvent(action: string, raw: string): RoomEvent | undefined {
  const e = parse(raw);
  return e && e.changes.every((c) => isChange(c, ['joined', 'left'])) ? { action, seq: e.seq, changes: e.changes as RoomChange[] } : undefined;
}
