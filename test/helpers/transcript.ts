// One transcript helper for every line protocol (SMTP, POP3, IMAP, ManageSieve): the test reads
// the server's output line by line and states exactly what it expects, so an unexpected line
// fails the test (unlike "the output contains ..."):
//
//   const t = new Transcript(pipe);
//   await t.expect(['+OK Yubin POP3 server ready']);
//   t.send('CAPA');
//   await t.expect(['+OK Capability list follows', /^TOP$/, ..., '.']);
//   t.send('a1 SELECT INBOX');
//   await t.expectTagged('a1', ['* 0 EXISTS', ...], /^a1 OK/);
//
// IMAP literals in the output ("... {12}\r\n<12 bytes>") are kept inside the line they belong to.
import assert from 'node:assert/strict';
import type { PipeTransport } from './pipe.js';

export type LineMatch = string | RegExp;

function matches(line: string, m: LineMatch): boolean {
  return typeof m === 'string' ? line === m : m.test(line);
}

function show(m: LineMatch): string {
  return typeof m === 'string' ? JSON.stringify(m) : String(m);
}

export class Transcript {
  private buf = '';

  constructor(
    readonly pipe: PipeTransport,
    private readonly opts: { literals?: boolean; timeoutMs?: number } = {},
  ) {}

  /** Sends one line (CRLF added). */
  send(line: string): void {
    this.pipe.send(Buffer.from(line + '\r\n', 'utf8'));
  }

  /** Sends bytes as they are. */
  sendRaw(data: string | Uint8Array): void {
    this.pipe.send(data);
  }

  /** The next complete line of output (without CRLF; with its literals when `literals` is on). */
  async line(): Promise<string> {
    for (;;) {
      const l = this.cut();
      if (l !== null) return l;
      this.buf += await this.pipe.waitFor(/\n/, this.opts.timeoutMs ?? 5000).catch((e: Error) => {
        throw new Error(`${e.message}; unread: ${JSON.stringify(this.buf)}`);
      });
    }
  }

  /** The next lines must be exactly these, in this order. */
  async expect(lines: readonly LineMatch[]): Promise<string[]> {
    const got: string[] = [];
    for (const m of lines) {
      const l = await this.line();
      got.push(l);
      assert.ok(matches(l, m), `line ${got.length}: expected ${show(m)}, got ${JSON.stringify(l)}; so far ${JSON.stringify(got)}`);
    }
    return got;
  }

  /** Reads lines up to and including the first that matches `end`; returns them all. */
  async until(end: LineMatch): Promise<string[]> {
    const got: string[] = [];
    for (;;) {
      const l = await this.line();
      got.push(l);
      if (matches(l, end)) return got;
    }
  }

  /**
   * IMAP: reads up to the tagged reply of `tag`; the untagged responses before it must be
   * exactly `untagged` (as a set, in any order, unless `ordered`), and the tagged line must match.
   */
  async expectTagged(tag: string, untagged: readonly LineMatch[], tagged: LineMatch, ordered = false): Promise<string[]> {
    const lines = await this.until(new RegExp(`^${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (OK|NO|BAD)\\b`));
    const last = lines.pop()!;
    assert.ok(matches(last, tagged), `tagged: expected ${show(tagged)}, got ${JSON.stringify(last)}`);
    if (ordered) {
      assert.equal(lines.length, untagged.length, `expected ${untagged.length} untagged lines, got ${JSON.stringify(lines)}`);
      lines.forEach((l, i) => assert.ok(matches(l, untagged[i]!), `untagged ${i + 1}: expected ${show(untagged[i]!)}, got ${JSON.stringify(l)}`));
      return lines;
    }
    const left = [...lines];
    for (const m of untagged) {
      const i = left.findIndex((l) => matches(l, m));
      assert.ok(i >= 0, `expected an untagged line ${show(m)} in ${JSON.stringify(lines)}`);
      left.splice(i, 1);
    }
    assert.deepEqual(left, [], `unexpected untagged lines: ${JSON.stringify(left)}`);
    return lines;
  }

  /** Nothing was written that the test has not read (checked now, without waiting). */
  expectQuiet(): void {
    const rest = this.buf + this.pipe.peek();
    assert.equal(rest, '', `unexpected output: ${JSON.stringify(rest)}`);
  }

  /** The server closed the connection (after the lines already read). */
  async expectClosed(timeoutMs = 5000): Promise<void> {
    await this.pipe.waitClosed(timeoutMs);
  }

  private cut(): string | null {
    let from = 0;
    for (;;) {
      const i = this.buf.indexOf('\r\n', from);
      if (i < 0) return null;
      const m = this.opts.literals ? /\{(\d+)\+?\}$/.exec(this.buf.slice(from, i)) : null;
      if (m) {
        // The literal follows the CRLF; the line goes on after it (counted in characters: the
        // pipe decodes output as UTF-8, so a non-ASCII literal needs its own assertion).
        const end = i + 2 + Number(m[1]);
        if (this.buf.length < end) return null;
        from = end;
        continue;
      }
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      return line;
    }
  }
}
