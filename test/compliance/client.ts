// A raw IMAP client for the compliance scripts and the stress run: sends lines exactly as given,
// reads responses as logical lines (a literal's bytes folded into the line as they are, `{n}`
// followed by exactly n characters, latin1), and waits for continuation requests where a
// synchronizing literal needs one. Loopback TCP only.
import { connect, type Socket } from 'node:net';

export interface Response {
  /** `*` untagged, `+` continuation, or the tag. */
  tag: string;
  /** The logical line without the tag, literal data folded in (see above). */
  text: string;
}

export class RawImap {
  private buf = Buffer.alloc(0);
  private lines: Response[] = [];
  private wakers: Array<() => void> = [];
  closed = false;
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawImap> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port }, () => resolve(new RawImap(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /** Splits the buffer into logical lines; stops at an incomplete line or literal. */
  private parse(): void {
    let pos = 0;
    let text = '';
    let start = 0;
    for (;;) {
      const eol = this.buf.indexOf('\r\n', pos);
      if (eol < 0) break;
      const line = this.buf.subarray(pos, eol).toString('utf8');
      const lit = /\{(\d+)\+?\}$/.exec(line);
      if (lit) {
        const n = Number(lit[1]);
        if (this.buf.length < eol + 2 + n) break;
        const data = this.buf.subarray(eol + 2, eol + 2 + n).toString('latin1');
        text += line + data;
        pos = eol + 2 + n;
        continue;
      }
      text += line;
      pos = eol + 2;
      start = pos;
      const sp = text.indexOf(' ');
      const tag = sp < 0 ? text : text.slice(0, sp);
      this.lines.push({ tag, text: sp < 0 ? '' : text.slice(sp + 1) });
      text = '';
    }
    this.buf = this.buf.subarray(start);
    this.wake();
  }

  /** The next response line (waits up to `timeoutMs`); null when the connection closed or on timeout. */
  async next(timeoutMs = 10_000): Promise<Response | null> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lines.length) {
      if (this.closed) return null;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.lines.shift()!;
  }

  /** Lines already received and not yet read (left in place). */
  peek(): readonly Response[] {
    return this.lines;
  }

  /** Resolves when more data arrives, the connection closes, or after `timeoutMs`. */
  waitData(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, Math.max(0, timeoutMs));
      this.wakers.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  /**
   * Sends one command (parts: text pieces and literals; a literal is sent after the server's `+`
   * unless `nonSync`), and reads until the tagged reply. Returns every response, tagged last.
   * An untagged line read while waiting for `+` is kept in the result.
   */
  async command(tag: string, parts: Array<string | { literal: Buffer; nonSync: boolean }>, timeoutMs = 10_000): Promise<Response[]> {
    const out: Response[] = [];
    let pending = '';
    for (const p of parts) {
      if (typeof p === 'string') {
        pending += p;
        continue;
      }
      pending += `{${p.literal.length}${p.nonSync ? '+' : ''}}\r\n`;
      this.write(pending);
      pending = '';
      if (!p.nonSync) {
        for (;;) {
          const r = await this.next(timeoutMs);
          if (!r) return out;
          out.push(r);
          if (r.tag === '+') break;
          if (r.tag === tag) return out;
        }
      }
      this.write(p.literal);
    }
    this.write(pending + '\r\n');
    for (;;) {
      const r = await this.next(timeoutMs);
      if (!r) return out;
      out.push(r);
      if (r.tag === tag) return out;
    }
  }

  /** Sends one line as it is and reads until a response with `endTag` (`+` for a continuation). */
  async raw(line: string, endTag: string, timeoutMs = 10_000): Promise<Response[]> {
    this.write(line + '\r\n');
    const out: Response[] = [];
    for (;;) {
      const r = await this.next(timeoutMs);
      if (!r) return out;
      out.push(r);
      if (r.tag === endTag) return out;
    }
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Reads the greeting and logs in with LOGIN; throws when either fails. */
export async function openSession(port: number, user: string, pass: string): Promise<RawImap> {
  const c = await RawImap.open(port);
  const g = await c.next();
  if (!g || !/^OK/i.test(g.text)) throw new Error(`no greeting: ${g?.text}`);
  const q = (s: string) => '"' + s.replace(/[\\"]/g, (m) => '\\' + m) + '"';
  const r = await c.command('L0', [`L0 LOGIN ${q(user)} ${q(pass)}`]);
  const t = r[r.length - 1];
  if (!t || t.tag !== 'L0' || !/^OK/i.test(t.text)) throw new Error(`login failed: ${t?.text}`);
  return c;
}
