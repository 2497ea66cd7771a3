export interface User {
  id: string;
  username: string;
  displayName: string;
  createdAt: number;
  /** 0 without a profile picture; grows with every new one (it versions the picture's URL). */
  avatarVersion: number;
  /** Stamped into tokens (`ver`); a password change or `revokeTokens` bumps it, and older tokens are refused. */
  tokenVersion: number;
  /** An operator: may sign in at /admin and act on the cluster (`npm run users -- admin <name> on`). */
  admin: boolean;
}

/** Where a user's profile picture is served, or undefined without one. Versioned: cacheable forever. */
export function avatarUrl(user: Pick<User, 'id' | 'avatarVersion'>): string | undefined {
  return user.avatarVersion > 0 ? `/api/users/${encodeURIComponent(user.id)}/avatar?v=${user.avatarVersion}` : undefined;
}

/** A user as other users see them (welcome, search, `users`, profile events). */
export function profileOf(user: User) {
  return { id: user.id, username: user.username, displayName: user.displayName, avatarUrl: avatarUrl(user) };
}

export interface NewUser { username: string; displayName?: string; password?: string; admin?: boolean }

/** The user directory. Synchronous on purpose: better-sqlite3 is synchronous and fast. */
export interface UserDirectory {
  byId(id: string): User | undefined;
  /** The users of `ids` the directory knows, in one query (the `users` command: up to 1,000 ids). */
  byIds(ids: readonly string[]): User[];
  byUsername(username: string): User | undefined;
  /** Case-insensitive match on username and display name; prefix matches rank first. */
  search(query: string, limit: number): User[];
  list(limit: number, offset: number): User[];
  /** Throws DirectoryError('conflict') when the username is taken, ('invalid') on a bad username. */
  add(user: NewUser): User;
  /** Sets the password and ends every session of the user (bumps `tokenVersion`). */
  setPassword(username: string, password: string): void;
  /** Ends every session of the user: tokens issued before are refused. */
  revokeTokens(username: string): void;
  /** Grants (`true`) or revokes the operator flag; throws DirectoryError('not_found') for an unknown user. */
  setAdmin(username: string, admin: boolean): User;
  /** Whether at least one operator exists (the /admin page is off otherwise). */
  hasAdmins(): boolean;
  /**
   * The user when the password matches; undefined otherwise (also for unknown users, in similar
   * time). Runs off the event loop; rejects with PasswordChecksBusy when too many checks wait.
   */
  checkPassword(username: string, password: string): Promise<User | undefined>;
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

/**
 * Characters a display name may not hold: controls, format characters (bidi overrides and
 * isolates such as U+202E, zero-width spaces and joiners, soft hyphens) and line or paragraph
 * separators. They let a name look like another one ("Alice Liddell" + U+202E).
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** What a display name must be (the refusal's message wherever one is checked). */
export const DISPLAY_NAME_RULE = 'display name must be 1-64 characters, without control, bidi or invisible characters';

/** `name` trimmed and NFC-normalized when it is an acceptable display name (1-64 visible characters), else undefined. */
export function cleanDisplayName(name: unknown): string | undefined {
  if (typeof name !== 'string') return undefined;
  const text = name.normalize('NFC').trim();
  const chars = [...text].length;
  return chars >= 1 && chars <= 64 && !HIDDEN.test(text) ? text : undefined;
}

/** Usernames: 2-32 characters of letters, digits, `_ . -`; compared case-insensitively. */
export const USERNAME = /^[A-Za-z0-9_.\-]{2,32}$/;
