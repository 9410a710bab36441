// The :regex match type (draft-ietf-sieve-regex-01): POSIX extended regular expressions,
// run on V8's linear-time regular expression engine (the "l" flag), so that no pattern can
// backtrack catastrophically. Patterns the linear engine cannot run (back-references,
// look-around) are refused, and pattern and subject lengths are bounded.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--enable-experimental-regexp-engine');

export const MAX_REGEX_PATTERN = 1024;
/** Longer values are matched on their first MAX_REGEX_SUBJECT characters. */
export const MAX_REGEX_SUBJECT = 256 * 1024;

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z', digit: '0-9', alnum: 'A-Za-z0-9', upper: 'A-Z', lower: 'a-z', space: ' \\t\\r\\n\\v\\f',
  blank: ' \\t', punct: '!-\\/:-@\\[-`{-~', print: ' -~', graph: '!-~', cntrl: '\\x00-\\x1f\\x7f', xdigit: '0-9A-Fa-f',
};

export interface CompiledRegex {
  exec(subject: string): string[] | null;
}

/**
 * Translates an ERE to a JavaScript pattern and compiles it for the linear engine. With
 * caseInsensitive (i;ascii-casemap), ASCII letters of pattern and subject are lowered (the
 * linear engine has no "i" flag); captures come from the original subject. Returns an error
 * string for a refused pattern.
 */
export function compileRegex(pattern: string, caseInsensitive: boolean): CompiledRegex | string {
  if (pattern.length > MAX_REGEX_PATTERN) return `regex longer than ${MAX_REGEX_PATTERN} characters`;
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const d = pattern[i + 1];
      if (d === undefined) return 'regex ends with "\\"';
      if (/[1-9]/.test(d)) return 'back-references are not supported in :regex';
      out += '\\' + d;
      i++;
      continue;
    }
    if (inClass) {
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        const name = end > 0 ? pattern.slice(i + 2, end) : '';
        const cls = POSIX_CLASSES[name];
        if (cls === undefined) return `unknown character class [:${name}:]`;
        out += cls;
        i = end + 1;
        continue;
      }
      if (c === ']' && !/\[\^?$/.test(out)) inClass = false;
      out += c === '[' ? '\\[' : c === ']' && /\[\^?$/.test(out) ? '\\]' : caseInsensitive ? c.toLowerCase() : c;
      continue;
    }
    if (c === '[') { inClass = true; out += c; continue; }
    if (c === '(' && pattern[i + 1] === '?') return 'look-around and "(?" groups are not POSIX regular expressions';
    out += caseInsensitive ? c.toLowerCase() : c;
  }
  if (inClass) return 'unterminated bracket expression';
  let re: RegExp;
  try {
    re = new RegExp(out, 'ls');
  } catch (err) {
    return `bad regex: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  return {
    exec(subject: string): string[] | null {
      const s = subject.length > MAX_REGEX_SUBJECT ? subject.slice(0, MAX_REGEX_SUBJECT) : subject;
      const m = re.exec(caseInsensitive ? s.replace(/[A-Z]+/g, (x) => x.toLowerCase()) : s);
      if (!m) return null;
      if (!caseInsensitive) return m.map((x) => x ?? '');
      // ASCII lowering keeps every index: take the captures from the original subject.
      const whole = s.slice(m.index, m.index + m[0].length);
      const caps = [whole];
      let from = m.index;
      for (let k = 1; k < m.length; k++) {
        const g = m[k];
        if (g === undefined) { caps.push(''); continue; }
        const lower = s.replace(/[A-Z]+/g, (x) => x.toLowerCase());
        const at = lower.indexOf(g, from);
        caps.push(at >= 0 ? s.slice(at, at + g.length) : g);
        if (at >= 0) from = at;
      }
      return caps;
    },
  };
}
