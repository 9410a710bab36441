// SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463), and the
// typed error that carries one. Pure: no server internals.

/** A failure that carries its SMTP reply; thrown by parsers and commands, caught only at the command boundary. */
export class SmtpError extends Error {
  constructor(
    readonly code: number,
    readonly enhanced: string | null,
    readonly text: string,
    /** After the reply the session closes (421 and friends). */
    readonly close = false,
  ) {
    super(`${code} ${enhanced ?? ''} ${text}`);
    this.name = 'SmtpError';
  }
}

/** Replaces anything that is not printable (CR, LF, NUL, other controls) so a reply line can never be split or forged. */
export function safeText(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, '?');
}

/**
 * Composes a reply: one line, or several with "code-" continuations and "code " on the last.
 * RFC 5321 §4.2.1: every line of a multiline reply carries the code, "-" on all but the last.
 * RFC 2034 §4: the enhanced code starts the text of every line.
 */
export function formatReply(code: number, enhanced: string | null, text: string | readonly string[]): string {
  const lines = typeof text === 'string' ? [text] : text.length ? text : [''];
  const prefix = enhanced ? `${enhanced} ` : '';
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? ' ' : '-';
    out += `${code}${sep}${prefix}${safeText(lines[i]!)}\r\n`;
  }
  return out;
}

/** The class of a reply code: 2, 3, 4 or 5. */
export function replyClass(code: number): number {
  return Math.floor(code / 100);
}
