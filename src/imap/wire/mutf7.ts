// Modified UTF-7 mailbox names (RFC 3501 §5.1.3, RFC 9051 Appendix A.1 for IMAP4rev1 clients):
// printable US-ASCII stands for itself except "&", which is "&-"; other characters are
// UTF-16 in modified base64 (",", not "/") between "&" and "-".

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';

export function encodeMutf7(s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += c === 0x26 ? '&-' : s[i];
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && (s.charCodeAt(j) < 0x20 || s.charCodeAt(j) > 0x7e)) j++;
    const units: number[] = [];
    for (let k = i; k < j; k++) {
      const u = s.charCodeAt(k);
      units.push(u >> 8, u & 0xff);
    }
    out += '&' + base64(units) + '-';
    i = j;
  }
  return out;
}

function base64(bytes: number[]): string {
  let out = '';
  let k = 0;
  for (; k + 2 < bytes.length; k += 3) {
    const n = (bytes[k]! << 16) | (bytes[k + 1]! << 8) | bytes[k + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - k;
  if (rest === 1) {
    const n = bytes[k]! << 16;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]!;
  } else if (rest === 2) {
    const n = (bytes[k]! << 16) | (bytes[k + 1]! << 8);
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]!;
  }
  return out;
}

/**
 * Decodes a modified UTF-7 name; null when it is not valid modified UTF-7: a bare "&" with no
 * "-", bad base64, leftover bits, an encoded run of printable ASCII (which must be literal),
 * two encoded runs back to back, a lone surrogate, or 8-bit input.
 */
export function decodeMutf7(s: string): string | null {
  let out = '';
  let i = 0;
  let lastEncodedEnd = -1;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return null;
    if (c !== 0x26) {
      out += s[i];
      i++;
      continue;
    }
    const end = s.indexOf('-', i + 1);
    if (end < 0) return null;
    if (end === i + 1) {
      // "&Jjo-&-": an "&-" straight after an encoded run is refused too (ambiguous to some clients)
      if (lastEncodedEnd === i) return null;
      out += '&';
      i = end + 1;
      continue;
    }
    // RFC 3501 §5.1.3: "&Jjo-&-" style adjacent encoded runs are not allowed (must be one run)
    if (lastEncodedEnd === i) return null;
    let bits = 0;
    let acc = 0;
    const units: number[] = [];
    let bytes: number[] = [];
    for (let k = i + 1; k < end; k++) {
      const v = B64.indexOf(s[k]!);
      if (v < 0) return null;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes.push((acc >> bits) & 0xff);
        acc &= (1 << bits) - 1;
        if (bytes.length === 2) {
          units.push((bytes[0]! << 8) | bytes[1]!);
          bytes = [];
        }
      }
    }
    // Leftover: at most 6 zero bits, and no half UTF-16 unit.
    if (bytes.length !== 0 || bits >= 6 || acc !== 0 || units.length === 0) return null;
    let text = '';
    for (let k = 0; k < units.length; k++) {
      const u = units[k]!;
      // RFC 3501 §5.1.3: printable US-ASCII must not be encoded
      if (u >= 0x20 && u <= 0x7e) return null;
      if (u >= 0xd800 && u <= 0xdbff) {
        const lo = units[k + 1];
        if (lo === undefined || lo < 0xdc00 || lo > 0xdfff) return null;
        text += String.fromCharCode(u, lo);
        k++;
        continue;
      }
      if (u >= 0xdc00 && u <= 0xdfff) return null;
      text += String.fromCharCode(u);
    }
    out += text;
    i = end + 1;
    lastEncodedEnd = i;
  }
  return out;
}
