export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
  /** 0 without a profile picture; grows with every new one (it versions the picture's URL). */
  avatarVersion: number;
}

/** Where a user's profile picture is served, or undefined without one. Versioned: cacheable forever. */
export function avatarUrl(user: Pick<User, 'id' | 'avatarVersion'>): string | undefined {
  return user.avatarVersion > 0 ? `/api/users/${encodeURIComponent(user.id)}/avatar?v=${user.avatarVersion}` : undefined;
}

export interface NewUser { username: string; displayName?: string; password?: string }

/** The user directory. Synchronous on purpose: better-sqlite3 is synchronous and fast. */
export interface UserDirectory {
  byId(id: string): User | undefined;
  byUsername(username: string): User | undefined;
  /** Case-insensitive match on username and display name; prefix matches rank first. */
  search(query: string, limit: number): User[];
  list(limit: number, offset: number): User[];
  /** Throws DirectoryError('conflict') when the username is taken, ('invalid') on a bad username. */
  add(user: NewUser): User;
  setPassword(username: string, password: string): void;
  /** The user when the password matches; undefined otherwise (also for unknown users, in similar time). */
  checkPassword(username: string, password: string): User | undefined;
  /** Throws DirectoryError('not_found') for an unknown id, ('invalid') for a bad name. */
  setDisplayName(id: string, displayName: string): User;
  /** Store a profile picture (already type- and size-checked by the caller). */
  setAvatar(id: string, type: string, bytes: Buffer): User;
  avatar(id: string): { type: string; bytes: Buffer; version: number } | undefined;
  close(): void;
}

export class DirectoryError extends Error {
  constructor(readonly reason: 'conflict' | 'invalid' | 'not_found', message: string) {
    super(message);
    this.name = 'DirectoryError';
  }
}

/** Usernames: 2-32 characters of letters, digits, `_ . -`; compared case-insensitively. */
export const USERNAME = /^[A-Za-z0-9_.\-]{2,32}$/;
