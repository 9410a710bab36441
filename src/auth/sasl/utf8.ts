// Shared field checks for the SASL mechanisms.
import { SaslError } from '../types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Upper bound on one identity or password, octets: far above RFC 4616's "MUST accept up to 255". */
export const MAX_FIELD_OCTETS = 1024;

/** Decodes one field as strict UTF-8; empty only when allowed; no NUL (RFC 4616 §2 SAFE excludes it). */
export function decodeUtf8Field(bytes: Uint8Array, what: string, allowEmpty: boolean): string {
  if (bytes.length === 0 && !allowEmpty) throw new SaslError(`empty ${what}`);
  if (bytes.length > MAX_FIELD_OCTETS) throw new SaslError(`${what} too long`);
  if (bytes.includes(0)) throw new SaslError(`NUL in ${what}`);
  try {
    // RFC 4616 §2: the fields are UTF-8 encoded
    return utf8.decode(bytes);
  } catch {
    throw new SaslError(`${what} is not valid UTF-8`);
  }
}
