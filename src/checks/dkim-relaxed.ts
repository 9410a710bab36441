// DKIM signing (RFC 6376) of a message in memory with relaxed/relaxed canonicalization, the only
// kind Yubin makes: what mailauth's signer computes, without its streams, header parsing into
// objects and twice-formatted signature field (docs/submission-perf.md: in the submission bench
// mailauth's own work was about as much as the RSA signature itself). It takes a message whose
// lines all end in CRLF and whose header fields all have a colon (what the queue sends: its
// DataEncoder turns bare CR and LF into CRLF); for anything else it returns null and the caller
// uses mailauth.
import crypto from 'node:crypto';

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;

/**
 * RFC 6376 §3.4.4, relaxed body canonicalization: every run of WSP in a line becomes one SP,
 * WSP at the end of a line goes, empty lines at the end of the body go, and a non-empty body
 * ends with CRLF (an empty body stays empty: RFC 6376 erratum 3871). Null when a CR or LF is
 * not part of a CRLF.
 */
export function relaxedBody(body: Buffer): Buffer | null {
  const out = Buffer.allocUnsafe(body.length + 2);
  let o = 0;
  /** Where the canonical body ends: after the last line that is not empty. */
  let end = 0;
  let i = 0;
  const n = body.length;
  while (i < n) {
    let e = body.indexOf(LF, i);
    if (e < 0) e = n;
    else if (e === i || body[e - 1] !== CR) return null;
    const stop = e < n ? e - 1 : n;
    const lineStart = o;
    let wsp = false;
    for (let k = i; k < stop; k++) {
      const b = body[k]!;
      if (b === SP || b === HT) {
        wsp = true;
        continue;
      }
      if (b === CR) return null;
      if (wsp) {
        out[o++] = SP;
        wsp = false;
      }
      out[o++] = b;
    }
    const empty = o === lineStart;
    out[o++] = CR;
    out[o++] = LF;
    if (!empty) end = o;
    i = e + 1;
  }
  return out.subarray(0, end);
}

export interface HeaderField {
  /** The field name as written (without the WSP before the colon). */
  name: string;
  /** Lower case. */
  key: string;
  /** The whole field, folded as it is, without its last CRLF (latin1: one char per octet). */
  raw: string;
}

/**
 * The header section's fields, in order (latin1 text, up to the empty line). Null when a line is
 * not a field (no colon) and does not continue one, or a CR or LF is not part of a CRLF.
 */
export function headerFields(header: string): HeaderField[] | null {
  const fields: HeaderField[] = [];
  if (/\r(?!\n)|(?<!\r)\n/.test(header)) return null;
  const lines = header.split('\r\n');
  // the header section ends with the CRLF of its last line: no field after it
  if (lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) {
    const c = line.charCodeAt(0);
    if ((c === SP || c === HT) && fields.length) {
      fields[fields.length - 1]!.raw += '\r\n' + line;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).replace(/[ \t]+$/, '');
    if (!name || /[ \t]/.test(name)) return null;
    fields.push({ name, key: name.toLowerCase(), raw: line });
  }
  return fields;
}

/**
 * RFC 6376 §3.4.2, relaxed header canonicalization of one field (without CRLF): the name in lower
 * case, unfolded, every run of WSP one SP, no WSP at the end of the value or around the colon.
 * WSP is SP and HTAB only (RFC 5234 B.1): other octets, 0xA0 among them, stay as they are.
 */
export function relaxedHeader(raw: string): string {
  const colon = raw.indexOf(':');
  const name = raw.slice(0, colon).replace(/[ \t]+$/, '').toLowerCase();
  const value = raw
    .slice(colon + 1)
    .replace(/\r\n/g, '')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
  return `${name}:${value}`;
}

/** Splits a message into header section (with the CRLF of its last line) and body; no empty line: all header. */
export function splitMessage(message: Buffer): { header: string; body: Buffer } {
  if (message.length >= 2 && message[0] === CR && message[1] === LF) return { header: '', body: message.subarray(2) };
  const at = message.indexOf('\r\n\r\n');
  if (at < 0) return { header: message.toString('latin1'), body: message.subarray(message.length) };
  return { header: message.toString('latin1', 0, at + 2), body: message.subarray(at + 4) };
}

export interface RelaxedSignSpec {
  domain: string;
  selector: string;
  privateKey: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

/** Base64 folded after `first` characters on the first line, then `width` a line (FWS is allowed inside b=, RFC 6376 §3.5). */
function fold(value: string, first: number, width: number): string {
  const parts = [value.slice(0, first)];
  for (let i = first; i < value.length; i += width) parts.push(value.slice(i, i + width));
  return parts.filter(Boolean).join('\r\n ');
}

/** The h= list, folded at its colons so that no line gets long. */
function foldNames(names: string[]): string {
  const lines: string[] = [];
  let line = ' h=';
  names.forEach((n, i) => {
    const piece = n + (i < names.length - 1 ? ':' : ';');
    if (line.length + piece.length > 76 && line !== ' h=') {
      lines.push(line);
      line = ' ';
    }
    line += piece;
  });
  lines.push(line);
  return lines.join('\r\n');
}

/** crypto.sign with a callback: the private-key operation runs on libuv's thread pool, not on the event loop. */
function signOffLoop(algorithm: string | null, data: Buffer, key: crypto.KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => crypto.sign(algorithm, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

/**
 * DKIM-Signature fields (each CRLF-terminated, in the order of `specs`) for the message, or null
 * when the message is not one this signer takes (see the header). The signed fields are every
 * field whose name is in `signed` (case-insensitive), from the bottom up, as mailauth picks them;
 * a name that is not in the message is not listed. The canonical forms and hashes are made here;
 * each signature itself (an RSA-2048 signature is about 0.2 ms of CPU) runs on libuv's thread
 * pool, so the event loop serves other sessions meanwhile.
 */
export async function signRelaxed(message: Buffer, specs: readonly RelaxedSignSpec[], signed: readonly string[], signTime: Date): Promise<string | null> {
  const { header, body } = splitMessage(message);
  const fields = headerFields(header);
  if (!fields) return null;
  const canonicalBody = relaxedBody(body);
  if (!canonicalBody) return null;
  const bh = crypto.createHash('sha256').update(canonicalBody).digest('base64');
  const wanted = new Set(signed.map((s) => s.toLowerCase()));
  const chosen: HeaderField[] = [];
  for (let i = fields.length - 1; i >= 0; i--) if (wanted.has(fields[i]!.key)) chosen.push(fields[i]!);
  // no field to sign, or a d=/s= that is not plain ASCII (mailauth turns a U-label domain into its A-label)
  if (!chosen.length || specs.some((x) => /[^\x21-\x7e]/.test(x.domain + x.selector))) return null;
  const canonicalFields = chosen.map((f) => relaxedHeader(f.raw) + '\r\n').join('');
  const t = Math.floor(signTime.getTime() / 1000);
  const signatures = specs.map(async (spec) => {
    // RFC 6376 §3.5: the tags; b= last and empty while signing (§3.7)
    const head =
      `DKIM-Signature: v=1; a=${spec.algorithm}; c=relaxed/relaxed; d=${spec.domain.toLowerCase()};\r\n s=${spec.selector}; t=${t};\r\n` +
      foldNames(chosen.map((f) => f.name)) +
      `\r\n bh=${bh};\r\n b=`;
    // RFC 6376 §3.7: the signed fields, then the DKIM-Signature field itself (canonicalized, b= empty, no CRLF)
    const data = Buffer.from(canonicalFields + relaxedHeader(head), 'latin1');
    let sig: Buffer;
    try {
      // parsed through crypto.createPrivateKey as it is when called (memoized per PEM: pem-key-cache.ts)
      const key = crypto.createPrivateKey({ key: spec.privateKey, format: 'pem' });
      const want = spec.algorithm === 'rsa-sha256' ? 'rsa' : 'ed25519';
      if (key.asymmetricKeyType !== want) throw new Error(`Invalid key type: "${key.asymmetricKeyType}" (expecting "${want}")`);
      sig =
        want === 'rsa'
          ? await signOffLoop('sha256', data, key)
          : // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data
            await signOffLoop(null, crypto.createHash('sha256').update(data).digest(), key);
    } catch (err) {
      throw new Error(`DKIM signing failed (${spec.selector}): ${err instanceof Error ? err.message : String(err)}`);
    }
    return head + fold(sig.toString('base64'), 72, 76) + '\r\n';
  });
  return (await Promise.all(signatures)).join('');
}
