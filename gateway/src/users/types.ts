export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
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
