// Sieve lexer (RFC 5228 §2, §8.1): identifiers, tags, numbers with K/M/G, quoted strings,
// multi-line `text:` strings with dot-stuffing, `#` and bracketed comments. Every token carries
// its line and column (1-based) so that errors read `line:column: message`.

export type TokenKind = 'identifier' | 'tag' | 'number' | 'string' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** identifier/tag: the name (lower case for identifiers and tags); punct: the character. */
  text: string;
  /** number: the value after K/M/G. */
  num?: number;
  /** string: true for `text:` multi-line strings. */
  multiline?: boolean;
  line: number;
  column: number;
}

export class SieveSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    message: string,
  ) {
    super(message);
  }
}

const PUNCT = new Set(['[', ']', '(', ')', ',', ';', '{', '}']);

/** RFC 5228 §8.1: QUANTIFIER = "K" / "M" / "G" (2^10, 2^20, 2^30). */
const QUANT: Record<string, number> = { k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

/** Largest number a script may write (RFC 5228 §2.4.1: at least 2^31-1 must be supported). */
export const MAX_NUMBER = 2 ** 53 - 1;

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const n = src.length;
  const col = (at: number): number => at - lineStart + 1;
  const err = (at: number, msg: string): never => {
    throw new SieveSyntaxError(line, col(at), msg);
  };
  const newline = (at: number): void => {
    line++;
    lineStart = at + 1;
  };
  while (i < n) {
    const c = src[i]!;
    if (c === '\n') { newline(i); i++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
    if (c === '#') {
      // RFC 5228 §2.3: hash-comment runs to the end of the line.
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && src[i + 1] === '*') {
      // RFC 5228 §2.3: bracketed comments do not nest.
      const start = i;
      const sl = line, sc = col(i);
      i += 2;
      for (;;) {
        if (i >= n) throw new SieveSyntaxError(sl, sc, 'unterminated comment');
        if (src[i] === '*' && src[i + 1] === '/') { i += 2; break; }
        if (src[i] === '\n') newline(i);
        i++;
      }
      void start;
      continue;
    }
    const tl = line, tc = col(i);
    if (PUNCT.has(c)) {
      out.push({ kind: 'punct', text: c, line: tl, column: tc });
      i++;
      continue;
    }
    if (c === '"') {
      // RFC 5228 §2.4.2: "\" escapes the next character; "\\" is a backslash, "\"" a quote,
      // any other escaped character stands for itself.
      i++;
      let s = '';
      for (;;) {
        if (i >= n) throw new SieveSyntaxError(tl, tc, 'unterminated string');
        const d = src[i]!;
        if (d === '"') { i++; break; }
        if (d === '\\') {
          if (i + 1 >= n) throw new SieveSyntaxError(tl, tc, 'unterminated string');
          const e = src[i + 1]!;
          if (e === '\n') newline(i + 1);
          s += e;
          i += 2;
          continue;
        }
        if (d === '\n') newline(i);
        s += d;
        i++;
      }
      // RFC 5228 §2.4.2: CRLF is the line break; a bare LF in a script is taken as one.
      out.push({ kind: 'string', text: s.replace(/\r?\n/g, '\r\n'), line: tl, column: tc });
      continue;
    }
    if (c >= '0' && c <= '9') {
      let j = i;
      while (j < n && src[j]! >= '0' && src[j]! <= '9') j++;
      let v = Number(src.slice(i, j));
      const q = src[j]?.toLowerCase();
      if (q && QUANT[q] !== undefined) {
        v *= QUANT[q]!;
        j++;
      }
      if (j < n && /[A-Za-z_0-9]/.test(src[j]!)) err(j, 'bad number');
      if (v > MAX_NUMBER) err(i, 'number too large');
      out.push({ kind: 'number', text: src.slice(i, j), num: v, line: tl, column: tc });
      i = j;
      continue;
    }
    if (c === ':' ) {
      let j = i + 1;
      if (j >= n || !/[A-Za-z_]/.test(src[j]!)) err(i, 'bad tag');
      while (j < n && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      out.push({ kind: 'tag', text: src.slice(i + 1, j).toLowerCase(), line: tl, column: tc });
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_]/.test(src[j]!)) j++;
      const word = src.slice(i, j);
      if (word.toLowerCase() === 'text' && src[j] === ':') {
        // RFC 5228 §8.1: multi-line = "text:" *(SP / HTAB) (hash-comment / CRLF)
        //   *(multiline-literal / multiline-dotstart) "." CRLF
        j++;
        while (j < n && (src[j] === ' ' || src[j] === '\t')) j++;
        if (src[j] === '#') while (j < n && src[j] !== '\n') j++;
        if (src[j] === '\r') j++;
        if (src[j] !== '\n') err(j, 'expected end of line after "text:"');
        newline(j);
        j++;
        const lines: string[] = [];
        for (;;) {
          if (j >= n) throw new SieveSyntaxError(tl, tc, 'unterminated multi-line string (no "." line)');
          let e = src.indexOf('\n', j);
          if (e < 0) e = n;
          let l = src.slice(j, e);
          if (l.endsWith('\r')) l = l.slice(0, -1);
          if (e < n) newline(e);
          j = e + 1;
          if (l === '.') break;
          // RFC 5228 §2.4.2: a line starting with "." has the dot doubled (dot-stuffing).
          lines.push(l.startsWith('.') ? l.slice(1) : l);
          if (e >= n) throw new SieveSyntaxError(tl, tc, 'unterminated multi-line string (no "." line)');
        }
        out.push({ kind: 'string', text: lines.map((l) => l + '\r\n').join(''), multiline: true, line: tl, column: tc });
        i = Math.min(j, n);
        continue;
      }
      out.push({ kind: 'identifier', text: word.toLowerCase(), line: tl, column: tc });
      i = j;
      continue;
    }
    err(i, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: 'eof', text: '', line, column: col(i) });
  return out;
}
