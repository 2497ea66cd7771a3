/** The answer of an access check (access.ts): allowed, or the error code and message the client gets. */
import type { ErrorCode } from '../../../shared/protocol.js';

export type Check = { ok: true } | { ok: false; code: Extract<ErrorCode, 'forbidden' | 'unavailable' | 'rate_limited'>; message: string };

export const OK: Check = { ok: true };
export const refuse = (message: string): Check => ({ ok: false, code: 'forbidden', message });
export const unavailable = (message: string): Check => ({ ok: false, code: 'unavailable', message });
export const limited = (message: string): Check => ({ ok: false, code: 'rate_limited', message });
