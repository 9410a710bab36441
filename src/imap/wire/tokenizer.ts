// IMAP command tokenizer (RFC 9051 §9 formal syntax, in the generic shape every command
// shares): tag, command name, then arguments made of atoms, quoted strings, literals and
// parenthesised lists. Each command's own parser reads the tokens with ArgReader.
// A FETCH item's atom may hold a bracketed section with spaces and parens
// (`BODY[HEADER.FIELDS (To)]<0.10>`), read as one token the FETCH parser takes apart; anywhere
// else "[" is an ordinary ATOM-CHAR (RFC 9051 §9: atom-specials do not include it).
import type { CommandPart } from './framer.js';

export type Token =
  | { t: 'atom'; v: string }
  | { t: 'string'; v: Buffer; literal: boolean; binary?: boolean }
  | { t: 'list'; items: Token[] }
  | { t: 'stream'; handle: unknown; size: number; binary: boolean };

export interface ParsedCommand {
  tag: string;
  /** Upper case. */
  name: string;
  args: Token[];
}

/** A syntax error; `tag` is known when the line had a valid tag (BAD goes to it, else to "*"). */
export class ImapParseError extends Error {
  constructor(
    message: string,
    readonly tag: string | null = null,
  ) {
    super(message);
    this.name = 'ImapParseError';
  }
}

/** How deep parenthesised lists may nest; deeper input is BAD (bounded work and memory). */
export const MAX_LIST_DEPTH = 64;

const SP = 0x20;
const LPAREN = 0x28;
const RPAREN = 0x29;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/** RFC 9051 §9 fetch-att names followed by a section: only after these does "[" open one. */
const SECTION_NAMES = new Set(['BODY', 'BODY.PEEK', 'BINARY', 'BINARY.PEEK', 'BINARY.SIZE']);

function isAtomStop(c: number): boolean {
  // RFC 9051 §9 atom-specials: "(" / ")" / "{" / SP / CTL / quoted-specials; we leave "%", "*",
  // "\" and "]" to the command parsers (flags, list wildcards, sequence sets, sections).
  return c === SP || c === LPAREN || c === RPAREN || c === DQUOTE || c < 0x20 || c === 0x7f || c === 0x7b;
}

/** RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+"> (we also refuse "]", as before: no client sends it). */
export function isValidTag(tag: string): boolean {
  return tag.length > 0 && !/[+\]*%\\]/.test(tag) && !/[^\x21-\x7e]/.test(tag);
}

/**
 * The tag a reply to this (possibly incomplete) command line goes to: its first word if that is
 * a valid tag, else "*" (RFC 9051 §7.1: a BAD that cannot be tied to a command is untagged).
 */
export function replyTag(line: Buffer): string {
  let i = 0;
  while (i < line.length && !isAtomStop(line[i]!)) i++;
  const tag = line.toString('latin1', 0, i);
  return line[i] === SP && isValidTag(tag) ? tag : '*';
}

/** Tokenizes a whole command. Throws ImapParseError. */
export function tokenizeCommand(parts: readonly CommandPart[]): ParsedCommand {
  const first = parts[0];
  if (!first || first.kind !== 'text') throw new ImapParseError('Missing tag');
  const line = first.bytes;
  let i = 0;
  while (i < line.length && !isAtomStop(line[i]!)) i++;
  const tag = line.toString('utf8', 0, i);
  if (!isValidTag(tag)) throw new ImapParseError('Invalid tag');
  if (line[i] !== SP) throw new ImapParseError('Missing command', tag);
  i++;
  const nameStart = i;
  while (i < line.length && !isAtomStop(line[i]!)) i++;
  const name = line.toString('latin1', nameStart, i).toUpperCase();
  if (!name || !/^[A-Z0-9.\-_]+$/.test(name)) throw new ImapParseError('Invalid command name', tag);
  const rest: CommandPart[] = [{ kind: 'text', bytes: line.subarray(i) }, ...parts.slice(1)];
  const args = tokenizeArgs(rest, tag);
  return { tag, name, args };
}

/** Tokenizes arguments (text parts and literals). */
export function tokenizeArgs(parts: readonly CommandPart[], tag: string | null = null): Token[] {
  const top: Token[] = [];
  const stack: Token[][] = [top];
  let cur = top;
  const bad = (msg: string): never => {
    throw new ImapParseError(msg, tag);
  };
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    if (part.kind === 'literal') {
      cur.push({ t: 'string', v: part.bytes, literal: true, binary: part.binary });
      continue;
    }
    if (part.kind === 'stream') {
      cur.push({ t: 'stream', handle: part.handle, size: part.size, binary: part.binary });
      continue;
    }
    const b = part.bytes;
    let i = 0;
    while (i < b.length) {
      const c = b[i]!;
      if (c === SP) {
        i++;
        continue;
      }
      if (c === LPAREN) {
        if (stack.length > MAX_LIST_DEPTH) bad('Too deeply nested');
        const list: Token = { t: 'list', items: [] };
        cur.push(list);
        stack.push(list.items);
        cur = list.items;
        i++;
        continue;
      }
      if (c === RPAREN) {
        if (stack.length === 1) bad('Unbalanced parenthesis');
        stack.pop();
        cur = stack[stack.length - 1]!;
        i++;
        continue;
      }
      if (c === DQUOTE) {
        const out: number[] = [];
        i++;
        let closed = false;
        while (i < b.length) {
          const q = b[i]!;
          if (q === DQUOTE) {
            closed = true;
            i++;
            break;
          }
          if (q === BACKSLASH) {
            const e = b[i + 1];
            // RFC 9051 §9: only quoted-specials may be escaped
            if (e !== DQUOTE && e !== BACKSLASH) bad('Invalid escape in quoted string');
            out.push(e!);
            i += 2;
            continue;
          }
          // RFC 9051 §9: QUOTED-CHAR excludes NUL, CR and LF
          if (q === 0 || q === 0x0d || q === 0x0a) bad('NUL, CR or LF in quoted string');
          out.push(q);
          i++;
        }
        if (!closed) bad('Unterminated quoted string');
        cur.push({ t: 'string', v: Buffer.from(out), literal: false });
        continue;
      }
      if (c < 0x20 || c === 0x7f || c === 0x7b) bad('Invalid character');
      // Atom, possibly with a bracketed section.
      const start = i;
      let depth = 0;
      while (i < b.length) {
        const a = b[i]!;
        if (depth > 0) {
          if (a === LBRACKET) depth++;
          else if (a === RBRACKET) depth--;
          else if (a < 0x20 || a === 0x7f) bad('Invalid character');
          i++;
          continue;
        }
        if (a === LBRACKET && SECTION_NAMES.has(b.toString('latin1', start, i).toUpperCase())) {
          depth = 1;
          i++;
          continue;
        }
        if (isAtomStop(a)) break;
        i++;
      }
      if (depth > 0) bad('Unterminated [');
      if (i < b.length && b[i] === 0x7b) bad('Invalid character');
      if (i < b.length && (b[i]! < 0x20 || b[i] === 0x7f)) bad('Invalid character');
      cur.push({ t: 'atom', v: b.toString('utf8', start, i) });
    }
  }
  if (stack.length !== 1) bad('Unbalanced parenthesis');
  return top;
}

/** Reads the arguments of one command in order; every error is an ImapParseError (BAD). */
export class ArgReader {
  private i = 0;
  constructor(
    readonly tokens: readonly Token[],
    readonly tag: string | null = null,
  ) {}

  bad(msg: string): never {
    throw new ImapParseError(msg, this.tag);
  }
  get done(): boolean {
    return this.i >= this.tokens.length;
  }
  peek(): Token | undefined {
    return this.tokens[this.i];
  }
  next(): Token {
    const t = this.tokens[this.i++];
    if (!t) this.bad('Missing argument');
    return t;
  }
  end(): void {
    if (!this.done) this.bad('Too many arguments');
  }
  atom(): string {
    const t = this.next();
    if (t.t !== 'atom') this.bad('Expected an atom');
    return t.v;
  }
  /** Peeks an atom, upper case, or null. */
  peekAtom(): string | null {
    const t = this.peek();
    return t && t.t === 'atom' ? t.v.toUpperCase() : null;
  }
  /** astring: atom, quoted string or literal, as UTF-8 text. */
  astring(): string {
    const t = this.next();
    if (t.t === 'atom') return t.v;
    if (t.t === 'string') return t.v.toString('utf8');
    return this.bad('Expected a string');
  }
  /** astring as raw bytes. */
  astringBytes(): Buffer {
    const t = this.next();
    if (t.t === 'atom') return Buffer.from(t.v, 'utf8');
    if (t.t === 'string') return t.v;
    return this.bad('Expected a string');
  }
  /** string (quoted or literal only). */
  string(): string {
    const t = this.next();
    if (t.t !== 'string') this.bad('Expected a quoted string or literal');
    return t.v.toString('utf8');
  }
  list(): Token[] {
    const t = this.next();
    if (t.t !== 'list') this.bad('Expected a parenthesised list');
    return t.items;
  }
  /** A list, or a single atom treated as a list of one (flag lists, fetch att). */
  listOrAtom(): Token[] {
    const t = this.next();
    if (t.t === 'list') return t.items;
    if (t.t === 'atom') return [t];
    return this.bad('Expected a list');
  }
  /** A number (RFC 9051 §9 number: 1*DIGIT, at most 2^32-1 unless big). */
  number(big = false): number {
    const a = this.atom();
    return parseNumber(a, big) ?? this.bad('Expected a number');
  }
}

export function parseNumber(s: string, big = false): number | null {
  if (!/^\d{1,19}$/.test(s)) return null;
  const n = Number(s);
  if (!Number.isSafeInteger(n)) return null;
  if (!big && n > 0xffffffff) return null;
  return n;
}
