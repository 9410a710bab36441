// Transcript helpers for SMTP tests.
import type { Session, Transport } from '../../src/net/transport.js';

/** The part of test/helpers/pipe.ts's PipeTransport the helpers use. */
export interface PipeLike extends Transport {
  attach(factory: (t: Transport) => Session): Session;
  send(data: string | Uint8Array): void;
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  take(): string;
  peek(): string;
  closed: boolean;
}

/** Waits until `n` complete replies (final lines "ddd ") have arrived; returns them, one string each (all lines). */
export async function replies(t: PipeLike, n: number, timeoutMs = 5000): Promise<string[]> {
  const re = new RegExp(`^(?:(?:\\d{3}-.*\\r\\n)*\\d{3} .*\\r\\n){${n}}`);
  const out = await t.waitFor(re, timeoutMs);
  const list: string[] = [];
  let cur = '';
  for (const line of out.split('\r\n').slice(0, -1)) {
    cur += line + '\r\n';
    if (/^\d{3} /.test(line)) {
      list.push(cur);
      cur = '';
    }
  }
  return list;
}

/** Sends one command line and returns its (complete) reply. */
export async function cmd(t: PipeLike, line: string): Promise<string> {
  t.send(Buffer.from(line + '\r\n', 'utf8'));
  const [r] = await replies(t, 1);
  return r!;
}
