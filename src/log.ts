import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; systemd's journal and `jq` both read them as they are. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'image-spool' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization'], remove: true },
  });
}
