// XML text for documents that carry caller-supplied values (an email address from a query string
// or a request body): every value is escaped, and characters XML cannot carry are refused first.

/** XML 1.0 §2.2 Char: no C0 controls but tab, LF, CR; no lone surrogates, no U+FFFE/U+FFFF. */
export function isXmlSafe(s: string): boolean {
  return !/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

/** XML 1.0 §2.4: "&" and "<" must be escaped in text; ">", quotes too, so it is safe in attributes. */
export function escapeXml(s: string): string {
  if (!isXmlSafe(s)) throw new Error('text contains characters XML cannot carry');
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/**
 * The text of the first element with this local name (any namespace prefix) in a small XML
 * document, entities decoded; null when absent or when it holds markup. Used for the one value
 * an autodiscover request carries; DTDs are refused (no entity expansion, no external fetches).
 */
export function elementText(xml: string, localName: string): string | null {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return null;
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${localName}(?:\\s[^>]*)?>([^<]*)</(?:[A-Za-z_][\\w.-]*:)?${localName}\\s*>`);
  const m = re.exec(xml);
  if (!m) return null;
  let bad = false;
  const text = m[1]!.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);/g, (_, ref: string) => {
    if (ref.startsWith('#')) {
      const cp = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (cp > 0x10ffff) {
        bad = true;
        return '';
      }
      return String.fromCodePoint(cp);
    }
    const v = NAMED[ref];
    if (v === undefined) bad = true;
    return v ?? '';
  });
  return bad ? null : text.trim();
}
