/**
 * pino, one child logger per component. Anything that could carry a token is redacted,
 * and no code path logs a request URL or a header that may hold one.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, nodeId: string): Logger {
  return pino({
    level,
    base: { nodeId },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'password', '*.password'], censor: '[redacted]' },
  });
}
