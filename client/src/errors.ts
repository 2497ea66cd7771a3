/** The errors the client hands to an app. */
import type { ErrorCode } from '../../shared/protocol.js';

/**
 * The session is over: a new sign-in is needed, retrying cannot help. Throw it from `getToken`
 * to stop the client (it goes to 'closed'); the client also closes with it when the server
 * disconnected the user (close 4003, `reason: 'disconnected'`) or refused a token it just got.
 */
export class UnauthorizedError extends Error {
  constructor(message = 'unauthorized', readonly reason: 'unauthorized' | 'expired' | 'disconnected' = 'unauthorized') {
    super(message);
    this.name = 'UnauthorizedError';
  }
}

/**
 * A command the server refused (`code` from PROTOCOL.md's error table), or that got no answer:
 * 'timeout' (it may still have run) or 'disconnected' (the link dropped first; not sent, or
 * sent without an answer).
 */
export class RequestError extends Error {
  constructor(readonly code: ErrorCode | 'timeout' | 'disconnected', message: string) {
    super(message);
    this.name = 'RequestError';
  }
}
