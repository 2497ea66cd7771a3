/**
 * Names and pictures of the users a page shows. No DOM.
 *
 * Contract:
 * - `fill(ids)` asks the `users` command about the ids without a known profile, at most
 *   USERS_PER_REQUEST per request, one batch after another (far from the frame rate limit), and
 *   never twice at once for the same id. Ids the answer leaves out are not in the directory
 *   (token-only users): they keep their username or short id, and are not asked again. A failed
 *   request (dropped link, timeout) forgets nothing: the next fill asks again.
 * - `learn(user)` takes a complete profile from anywhere (`profile` frames, search results, the
 *   answer to an edit).
 * - Listeners of `onChange` get the ids whose profile changed: once per answered request or
 *   learned profile, so a page re-renders per batch, not per user.
 */
import type { UserInfo } from '../../shared/protocol.js';
import { Emitter } from '../../client/src/index.js';
import type { Roster } from './roster.js';

/** The gateway's cap on ids per `users` command. */
export const USERS_PER_REQUEST = 1000;

export type AskUsers = (ids: string[]) => Promise<UserInfo[]>;

export class Profiles {
  private readonly asking = new Set<string>();
  private readonly events = new Emitter<{ change: string[] }>();

  constructor(private readonly roster: Roster, private readonly ask: AskUsers) {}

  onChange(fn: (ids: string[]) => void): () => void {
    return this.events.on('change', fn);
  }

  learn(user: UserInfo): void {
    this.roster.learnProfile(user);
    this.events.emit('change', [user.id]);
  }

  /** Look up the unknown profiles among `ids`; resolves when every batch is answered or failed. */
  async fill(ids: Iterable<string>): Promise<void> {
    const wanted = this.roster.unprofiled(ids).filter((id) => !this.asking.has(id));
    for (const id of wanted) this.asking.add(id);
    try {
      for (let i = 0; i < wanted.length; i += USERS_PER_REQUEST) {
        const batch = wanted.slice(i, i + USERS_PER_REQUEST);
        let users: UserInfo[];
        try {
          users = await this.ask(batch);
        } catch {
          return; // dropped link or timeout: the next welcome (or fill) asks again
        }
        const asked = new Set(batch);
        const found = users.filter((u) => asked.has(u.id));
        for (const u of found) this.roster.learnProfile(u);
        const foundIds = new Set(found.map((u) => u.id));
        this.roster.markAbsent(batch.filter((id) => !foundIds.has(id)));
        this.events.emit('change', batch);
      }
    } finally {
      for (const id of wanted) this.asking.delete(id);
    }
  }
}
