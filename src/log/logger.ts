// Structured logging (pino): one line per connection and per transaction, with ids.
import { pino, type Logger } from 'pino';
export type { Logger } from 'pino';

export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  return destination ? pino({ level, base: { pid: process.pid } }, destination as never) : pino({ level, base: { pid: process.pid } });
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
