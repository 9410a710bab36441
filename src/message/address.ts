// The one RFC 5322 §3.4 address-list parser. The IMAP ENVELOPE (headers.ts) and the submission
// From: check (smtp/server/deliver.ts) both read addresses through it, so what submission
// accepts is what IMAP clients are shown.
//
// Grammar (RFC 5322 §3.4, with the obsolete forms of §4.4 a reader must accept):
//   address-list = address *("," address)        obs-addr-list: empty elements between commas
//   address      = mailbox / group
//   group        = display-name ":" [group-list] ";" [CFWS]
//   mailbox      = name-addr / addr-spec
//   name-addr    = [display-name] angle-addr
//   angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
//   addr-spec    = local-part "@" domain
// CFWS (comments, which nest, and whitespace) may stand between any two tokens (obs forms).
// RFC 6532 §3.2: UTF-8 (any non-ASCII character) is allowed in atoms, quoted strings, comments
// and domain literals.
//
// Malformed input is a parse failure (ok: false) with the first error; `recovered` is what a
// reader can still make of the list, element by element (for display only, never for a decision).

/** One mailbox (RFC 5322 §3.4). */
export interface Mailbox {
  kind: 'mailbox';
  /**
   * The display name as written: words joined with one space where the source had whitespace
   * or a comment, quoted strings without their quotes, RFC 2047 encoded words left as they are.
   * For a bare addr-spec, the last non-empty comment (the old `user@host (Real Name)` form).
   * null when there is none.
   */
  name: string | null;
  /** RFC 5322 §4.4 obs-route (`@a,@b`), or null. */
  route: string | null;
  /** The local part, quoting removed (`"a b"@x` gives `a b`). */
  local: string;
  /** The domain, dot-joined; a domain literal keeps its brackets. */
  domain: string;
}

/** A group (RFC 5322 §3.4): display-name ":" members ";". */
export interface Group<M = Mailbox> {
  kind: 'group';
  name: string;
  members: M[];
}

/** An element of a malformed list, for display: the text as written. */
export interface InvalidAddress {
  kind: 'invalid';
  /** The element as written (trimmed). */
  text: string;
  /** When the element is a local part alone (`root`, no "@domain"): that local part. */
  local: string | null;
  /** For a lone local part, the last non-empty comment in it, else null. */
  name: string | null;
}

export type Address = Mailbox | Group;
export type RecoveredAddress = Mailbox | InvalidAddress | Group<Mailbox | InvalidAddress>;

export type AddressListResult =
  | { ok: true; addresses: Address[] }
  | { ok: false; error: string; offset: number; recovered: RecoveredAddress[] };

/** `local@domain` as one string (what ENVELOPE shows as mailbox and host). */
export function addressOf(m: Mailbox): string {
  return `${m.local}@${m.domain}`;
}

/** Every mailbox of a list, group members included, in order. */
export function mailboxesOf(list: Address[]): Mailbox[] {
  return list.flatMap((a) => (a.kind === 'group' ? a.members : [a]));
}

// ---------------------------------------------------------------------------------------------
// Lexer

interface Tok {
  kind: 'atom' | 'quoted' | 'comment' | 'literal' | 'special' | 'bad';
  /** atom: as written; quoted and comment: content with quoted-pairs resolved; literal: raw with brackets. */
  text: string;
  /** Offsets in the value. */
  start: number;
  end: number;
  /** Whitespace or a comment came before this token. */
  sp: boolean;
  /** For 'bad': what is wrong. */
  why?: string;
}

/** RFC 5322 §3.2.3 specials that stand alone as tokens here ("[" starts a literal, "(" a comment, '"' a quoted string). */
const SPECIALS = '<>@,;:.';

/** RFC 5322 §3.2.3 atext, plus RFC 6532 §3.2 UTF8-non-ascii. */
function isAtext(c: number): boolean {
  if (c >= 0x80) return true;
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  return "!#$%&'*+-/=?^_`{|}~".includes(String.fromCharCode(c));
}

/** Printable ASCII, WSP or non-ASCII: what may stand in quoted strings, comments, literals and after "\". */
function isText(c: number): boolean {
  return c === 0x20 || c === 0x09 || (c > 0x20 && c < 0x7f) || c >= 0x80;
}

/**
 * The three delimited forms: RFC 5322 §3.2.4 quoted-string (qtext and quoted-pair, §3.2.1),
 * §3.2.2 comment (ctext, quoted-pair and nested comments) and §3.4.1 domain-literal (dtext: no
 * "[", "]" or "\\" unquoted; kept with its brackets).
 */
interface Delimited {
  kind: 'quoted' | 'comment' | 'literal';
  close: string;
  /** Comments nest. */
  nests: boolean;
  what: string;
}
const DELIMITED: Record<string, Delimited> = {
  '"': { kind: 'quoted', close: '"', nests: false, what: 'quoted string' },
  '(': { kind: 'comment', close: ')', nests: true, what: 'comment' },
  '[': { kind: 'literal', close: ']', nests: false, what: 'domain literal' },
};

/**
 * Scans a delimited form that opens at `start`: its content (quoted-pairs resolved), the offset
 * just past the closing character (past the end of the value, + 1, when it is not closed) and
 * what is wrong inside it, if anything.
 */
function scanDelimited(value: string, start: number, d: Delimited): { text: string; end: number; bad: string | null } {
  const open = value[start]!;
  const n = value.length;
  let i = start + 1;
  let depth = 1;
  let text = '';
  let bad: string | null = null;
  while (i < n) {
    let ch = value[i]!;
    if (ch === '\\') {
      i++;
      if (i >= n) break;
      ch = value[i]!;
    } else if (ch === d.close && --depth === 0) break;
    else if (ch === open) {
      if (d.nests) depth++;
      else bad ??= `a "${open}" in a ${d.what}`;
    }
    if (!isText(ch.charCodeAt(0))) bad ??= `a control character in a ${d.what}`;
    text += ch;
    i++;
  }
  return { text, end: i + 1, bad };
}

/**
 * Splits a value into tokens. Never throws: what breaks the grammar becomes a 'bad' token
 * (RFC 5322 has no place for control characters, a stray ")" "]" "\", or an unclosed
 * quoted string, comment or domain literal: the last runs to the end of the value).
 */
function lex(value: string): Tok[] {
  const out: Tok[] = [];
  const n = value.length;
  let i = 0;
  let sp = false;
  const push = (kind: Tok['kind'], text: string, start: number, end: number, why?: string): void => {
    out.push({ kind, text, start, end, sp, ...(why ? { why } : {}) });
    sp = kind === 'comment';
  };
  while (i < n) {
    const c = value.charCodeAt(i);
    if (c === 0x20 || c === 0x09) {
      // RFC 5322 §3.2.2 FWS (the value is unfolded: no CRLF is left).
      sp = true;
      i++;
    } else if (c === 0x22 || c === 0x28 || c === 0x5b) {
      const d = DELIMITED[value[i]!]!;
      const r = scanDelimited(value, i, d);
      const raw = value.slice(i, r.end);
      if (r.end > n) push('bad', value.slice(i), i, n, `an unclosed ${d.what}`);
      else if (r.bad) push('bad', raw, i, r.end, r.bad);
      else push(d.kind, d.kind === 'literal' ? raw : r.text, i, r.end);
      i = r.end;
    } else if (SPECIALS.includes(value[i]!)) {
      push('special', value[i]!, i, i + 1);
      i++;
    } else if (isAtext(c)) {
      const start = i;
      while (i < n && isAtext(value.charCodeAt(i))) i++;
      push('atom', value.slice(start, i), start, i);
    } else {
      push('bad', value[i]!, i, i + 1, c < 0x20 || c === 0x7f ? 'a control character' : `a stray "${value[i]}"`);
      i++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parser

class Parser {
  pos = 0;
  error: { text: string; offset: number } | null = null;

  constructor(
    private readonly value: string,
    private readonly toks: Tok[],
  ) {}

  /** Records the first error (the one reported). */
  fail(text: string, at: Tok | undefined): null {
    this.error ??= { text, offset: at ? at.start : this.value.length };
    return null;
  }

  /** The next token that is not a comment (CFWS may stand between any two tokens), not consumed. */
  peek(): Tok | undefined {
    while (this.pos < this.toks.length && this.toks[this.pos]!.kind === 'comment') this.pos++;
    return this.toks[this.pos];
  }

  isSpecial(t: Tok | undefined, ch: string): boolean {
    return t !== undefined && t.kind === 'special' && t.text === ch;
  }

  describe(t: Tok | undefined): string {
    if (!t) return 'the end';
    if (t.kind === 'bad') return t.why!;
    if (t.kind === 'special') return `"${t.text}"`;
    return t.kind === 'atom' ? 'a word' : t.kind === 'quoted' ? 'a quoted string' : 'a domain literal';
  }

  list(): RecoveredAddress[] {
    return this.elements(false, () => this.address());
  }

  /**
   * The elements of a list: at the top level addresses up to the end, in a group mailboxes up
   * to the closing ";". RFC 5322 §4.4 obs-addr-list, obs-mbox-list, obs-group-list: empty
   * elements between commas are allowed. An element that does not parse is recovered as
   * written (`invalid`) and the next one is read.
   */
  private elements<T>(inGroup: boolean, parse: () => T | null): Array<T | InvalidAddress> {
    const out: Array<T | InvalidAddress> = [];
    for (;;) {
      const t = this.peek();
      if (!t) {
        // A group unclosed at the end of the value: reported, and read as closed.
        if (inGroup) this.fail('a group without its closing ";"', t);
        break;
      }
      if (inGroup && this.isSpecial(t, ';')) {
        this.pos++;
        break;
      }
      if (this.isSpecial(t, ',')) {
        this.pos++;
        continue;
      }
      const start = this.pos;
      const a = parse();
      const after = this.peek();
      if (a && (!after || this.isSpecial(after, ',') || (inGroup && this.isSpecial(after, ';')))) {
        out.push(a);
        continue;
      }
      // In a group: RFC 5322 §3.4, a group holds mailboxes; groups do not nest.
      if (a) this.fail(`${this.describe(after)} after an address${inGroup ? ' in a group' : ''}`, after);
      out.push(this.invalid(start, inGroup));
    }
    return out;
  }

  /** address = mailbox / group */
  private address(): Mailbox | Group<Mailbox | InvalidAddress> | null {
    const start = this.pos;
    const phrase = this.phrase();
    if (phrase && this.isSpecial(this.peek(), ':')) {
      this.pos++;
      return this.group(joinWords(phrase));
    }
    this.pos = start;
    return this.mailbox();
  }

  /** group = display-name ":" [group-list] ";" [CFWS]; the display name is already read. */
  private group(name: string): Group<Mailbox | InvalidAddress> {
    return { kind: 'group', name, members: this.elements(true, () => this.mailbox()) };
  }

  /** mailbox = name-addr / addr-spec */
  private mailbox(): Mailbox | null {
    const start = this.pos;
    const phrase = this.phrase();
    const t = this.peek();
    if (this.isSpecial(t, '<')) {
      this.pos++;
      const route = this.obsRoute();
      if (route === null) return null;
      const spec = this.addrSpec();
      if (!spec) return null;
      const close = this.peek();
      if (!this.isSpecial(close, '>')) return this.fail(`expected ">" but found ${this.describe(close)}`, close);
      this.pos++;
      const name = phrase ? joinWords(phrase) : '';
      return { kind: 'mailbox', name: name === '' ? null : name, route: route || null, ...spec };
    }
    this.pos = start;
    const spec = this.addrSpec();
    if (!spec) return null;
    // Trailing comments belong to this mailbox (up to the next token).
    this.peek();
    return { kind: 'mailbox', name: lastComment(this.toks, start, this.pos), route: null, ...spec };
  }

  /**
   * RFC 5322 §4.4 obs-route = obs-domain-list ":"; obs-domain-list = *(CFWS / ",") "@" domain
   * *("," [CFWS] ["@" domain]). Returns "" when there is none, the route as written (without
   * whitespace and comments) when there is one, null on an error.
   */
  private obsRoute(): string | null {
    const t = this.peek();
    if (!this.isSpecial(t, '@') && !this.isSpecial(t, ',')) return '';
    let text = '';
    while (this.isSpecial(this.peek(), ',')) {
      text += ',';
      this.pos++;
    }
    for (;;) {
      const at = this.peek();
      if (!this.isSpecial(at, '@')) return this.fail(`expected "@" in a source route but found ${this.describe(at)}`, at);
      this.pos++;
      const d = this.domain();
      if (d === null) return null;
      text += '@' + d;
      let comma = false;
      while (this.isSpecial(this.peek(), ',')) {
        text += ',';
        comma = true;
        this.pos++;
      }
      if (!comma) break;
      if (!this.isSpecial(this.peek(), '@')) break;
    }
    const colon = this.peek();
    if (!this.isSpecial(colon, ':')) return this.fail(`expected ":" after a source route but found ${this.describe(colon)}`, colon);
    this.pos++;
    return text;
  }

  /** addr-spec = local-part "@" domain */
  private addrSpec(): { local: string; domain: string } | null {
    const local = this.localPart();
    if (local === null) return null;
    const at = this.peek();
    if (!this.isSpecial(at, '@')) return this.fail(at ? `expected "@" but found ${this.describe(at)}` : 'an address without "@domain"', at);
    this.pos++;
    const domain = this.domain();
    if (domain === null) return null;
    return { local, domain };
  }

  /**
   * local-part = dot-atom / quoted-string / obs-local-part (word *("." word)).
   * Tolerated beyond RFC 5322: empty words between or after dots (`a..b`, `a.`), which some
   * providers' addresses have; the text is kept as written, so nothing is gained by forging one.
   */
  localPart(): string | null {
    const first = this.peek();
    if (!first || (first.kind !== 'atom' && first.kind !== 'quoted')) return this.fail(`expected an address but found ${this.describe(first)}`, first);
    this.pos++;
    let text = first.text;
    for (;;) {
      const dot = this.peek();
      if (!this.isSpecial(dot, '.')) break;
      this.pos++;
      text += '.';
      const w = this.peek();
      if (w && (w.kind === 'atom' || w.kind === 'quoted')) {
        this.pos++;
        text += w.text;
      }
    }
    return text;
  }

  /** domain = dot-atom / domain-literal / obs-domain (atom *("." atom)) */
  private domain(): string | null {
    const first = this.peek();
    if (first?.kind === 'literal') {
      this.pos++;
      return first.text;
    }
    if (first?.kind !== 'atom') return this.fail(`expected a domain but found ${this.describe(first)}`, first);
    this.pos++;
    let text = first.text;
    while (this.isSpecial(this.peek(), '.')) {
      this.pos++;
      const w = this.peek();
      if (w?.kind !== 'atom') return this.fail(`expected a domain label but found ${this.describe(w)}`, w);
      this.pos++;
      text += '.' + w.text;
    }
    return text;
  }

  /** phrase = 1*word / obs-phrase (word *(word / "." / CFWS)); null when there is no word. */
  private phrase(): Tok[] | null {
    const start = this.pos;
    const words: Tok[] = [];
    for (;;) {
      const t = this.peek();
      if (t && (t.kind === 'atom' || t.kind === 'quoted' || (words.length > 0 && this.isSpecial(t, '.')))) {
        words.push(t);
        this.pos++;
      } else break;
    }
    if (!words.length) this.pos = start;
    return words.length ? words : null;
  }

  /**
   * Error recovery: the element that starts at token `start` runs to the next "," (or ";" in a
   * group) outside angle brackets and outside what looks like a group (":" ... ";").
   */
  private invalid(start: number, inGroup: boolean): InvalidAddress {
    let depth = 0;
    let group = false;
    let end = start;
    for (; end < this.toks.length; end++) {
      const t = this.toks[end]!;
      if (t.kind !== 'special') continue;
      if (t.text === '<') depth++;
      else if (t.text === '>' && depth > 0) depth--;
      else if (depth === 0) {
        if (t.text === ',' && !group) break;
        if (t.text === ';' && inGroup && !group) break;
        if (t.text === ':' && !inGroup) group = true;
        else if (t.text === ';' && group) group = false;
      }
    }
    const text = end > start ? this.value.slice(this.toks[start]!.start, this.toks[end - 1]!.end).trim() : '';
    // A local part alone (`root`, `MAILER-DAEMON`): keep it as the mailbox.
    const saved = this.error;
    this.pos = start;
    const local = this.localPart();
    this.peek();
    const lone = local !== null && this.pos === end;
    this.error = saved;
    this.pos = end;
    return { kind: 'invalid', text, local: lone ? local : null, name: lone ? lastComment(this.toks, start, end) : null };
  }
}

/** Joins phrase tokens as written: one space wherever the source had whitespace or a comment. */
function joinWords(words: Tok[]): string {
  let s = '';
  for (const t of words) {
    if (s !== '' && t.sp) s += ' ';
    s += t.text;
  }
  return s;
}

/**
 * The last non-empty comment of an element whose tokens are [from, to) (and the comments just
 * before it, which the caller has skipped), trimmed; null when none.
 */
function lastComment(toks: Tok[], from: number, to: number): string | null {
  while (from > 0 && toks[from - 1]!.kind === 'comment') from--;
  for (let k = to - 1; k >= from; k--) {
    const t = toks[k]!;
    if (t.kind === 'comment' && t.text.trim() !== '') return t.text.trim();
  }
  return null;
}

/**
 * Parses an address list (RFC 5322 §3.4 address-list, with the obsolete forms of §4.4 and the
 * UTF-8 of RFC 6532). An empty value (or only commas and CFWS) is a valid empty list; whether a
 * field may be empty is the caller's rule.
 */
export function parseAddresses(value: string): AddressListResult {
  const p = new Parser(value, lex(value));
  const recovered = p.list();
  if (p.error) return { ok: false, error: p.error.text, offset: p.error.offset, recovered };
  return { ok: true, addresses: recovered as Address[] };
}
