// Structured logging (pino): one line per connection and per transaction, with ids.
import { pino, type Logger } from 'pino';
export type { Logger } from 'pino';

export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { pid: process.pid } }, destination ? (destination as never) : new TurnBatched(pino.destination({ dest: 1, sync: true })));
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Where TurnBatched writes (pino's SonicBoom, or a test's recorder). */
export interface LineSink {
  write(data: string): unknown;
  flushSync?(): void;
}

/**
 * Log lines made in one turn of the event loop, written together at the turn's end (setImmediate):
 * one write instead of one per line. A mail session logs three lines per message (connection,
 * message accepted, close); under load a turn handles several sessions' events, and each write
 * to a pipe (journald, a terminal) is a system call that wakes its reader. A line waits at most
 * until the loop next turns; the process's 'exit' (process.exit, an uncaught exception) writes
 * what is left, so only a kill -9 can lose the lines of the turn it interrupts.
 */
export class TurnBatched {
  private parts: string[] = [];
  private scheduled = false;

  constructor(private readonly out: LineSink) {
    process.once('exit', () => this.flushSync());
  }

  write(line: string): boolean {
    this.parts.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
    return true;
  }

  /** pino's logger.flush() and the exit handler: everything out now. */
  flushSync(): void {
    this.flush();
    this.out.flushSync?.();
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.parts.length === 0) return;
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.out.write(text);
  };
}
