// Reads the server name (SNI) and the offered ALPN protocols from a TLS ClientHello before the
// handshake starts, so a listener can give the TLSSocket the certificate for that name from the
// start (TlsProvider.secureContext(servername)), and the https listener can answer a tls-alpn-01
// validation (RFC 8737) with the challenge certificate (Node chooses the certificate, in its
// SNICallback, before it sees the ALPN list).
import type net from 'node:net';

export interface ClientHelloInfo {
  servername: string | null;
  alpn: string[];
}

/** TLS record header (RFC 8446 §5.1): type, legacy version, length. */
const RECORD_HEADER = 5;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0; // RFC 6066 §3
const EXT_ALPN = 16; // RFC 7301 §3.1

/**
 * How many bytes the first TLS record needs (header included), or 0 when the bytes are not a TLS
 * handshake record (then there is nothing to wait for).
 */
export function firstRecordLength(buf: Buffer): number {
  if (buf.length < 1 || buf[0] !== HANDSHAKE) return 0;
  if (buf.length < RECORD_HEADER) return RECORD_HEADER;
  return RECORD_HEADER + buf.readUInt16BE(3);
}

/**
 * Parses the ClientHello in the first record of buf. Returns null when it is not a complete
 * ClientHello contained in that record (a hello split over records is not parsed: the caller then
 * handles the connection as an ordinary one).
 */
export function parseClientHello(buf: Buffer): ClientHelloInfo | null {
  const end = firstRecordLength(buf);
  if (end === 0 || end <= RECORD_HEADER || buf.length < end) return null;
  let p = RECORD_HEADER;
  const need = (n: number) => {
    if (p + n > end) throw new RangeError('short ClientHello');
  };
  const u8 = () => (need(1), buf[p++]!);
  const u16 = () => (need(2), (p += 2), buf.readUInt16BE(p - 2));
  const skip = (n: number) => (need(n), (p += n));
  try {
    if (u8() !== CLIENT_HELLO) return null;
    need(3);
    const len = buf.readUIntBE(p, 3);
    p += 3;
    if (p + len > end) return null; // continues in the next record
    skip(2 + 32); // legacy_version, random
    skip(u8()); // legacy_session_id
    skip(u16()); // cipher_suites
    skip(u8()); // legacy_compression_methods
    const info: ClientHelloInfo = { servername: null, alpn: [] };
    if (p === end) return info; // no extensions
    const extLen0 = u16();
    const extEnd = p + extLen0;
    if (extEnd > end) return null;
    while (p + 4 <= extEnd) {
      const type = u16();
      const extLen = u16();
      const next = p + extLen;
      if (next > extEnd) return null;
      if (type === EXT_SERVER_NAME) {
        const listLen = u16();
        const listEnd = p + listLen;
        while (p + 3 <= Math.min(listEnd, next)) {
          const nameType = u8();
          const n = u16();
          need(n);
          if (nameType === 0 && info.servername === null) info.servername = buf.toString('latin1', p, p + n);
          p += n;
        }
      } else if (type === EXT_ALPN) {
        const listLen = u16();
        const listEnd = p + listLen;
        while (p + 1 <= Math.min(listEnd, next)) {
          const n = u8();
          need(n);
          info.alpn.push(buf.toString('latin1', p, p + n));
          p += n;
        }
      }
      p = next;
    }
    return info;
  } catch {
    return null;
  }
}

/** RFC 8446 §5.1: a record's plaintext is at most 2^14 octets (a ClientHello is sent as plaintext). */
const MAX_RECORD = RECORD_HEADER + 2 ** 14;

/**
 * Collects the first TLS record (the ClientHello) without consuming it: the bytes are put back
 * (unshift) for the TLSSocket, and the socket is left paused. Resolves with what was read
 * (possibly incomplete, or not TLS at all) on timeout, end, close or error; at most one record
 * of the largest size TLS allows: a header announcing more ends the wait at once (the TLS engine
 * then refuses the record).
 */
export function peekFirstRecord(raw: net.Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.removeListener('data', onData);
      raw.removeListener('end', done);
      raw.removeListener('close', done);
      raw.removeListener('error', done);
      raw.pause();
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      // after an end or an error the stream takes nothing back (the TLS engine sees the end)
      if (buf.length && !raw.readableEnded && !raw.destroyed) raw.unshift(buf);
      resolve(buf);
    };
    const onData = (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      // the header is in the first 5 octets: joined once, not per chunk
      if (chunks.length > 1 && chunks[0]!.length < RECORD_HEADER) chunks.splice(0, chunks.length, Buffer.concat(chunks, size));
      const need = firstRecordLength(chunks[0]!);
      if (need === 0 || need > MAX_RECORD || size >= need) done();
    };
    const timer = setTimeout(done, timeoutMs);
    raw.on('data', onData);
    raw.once('end', done);
    raw.once('close', done);
    // a reset during the wait is an ordinary end of this connection, not an unhandled 'error'
    raw.once('error', done);
    // a socket paused by its owner (a STARTTLS upgrade) does not flow for a new listener alone
    raw.resume();
  });
}

/**
 * What a TLS listener reads before it makes the server TLSSocket: the ClientHello (null when it
 * could not be parsed, e.g. not TLS or split over records: the TLS engine then decides), or
 * 'gone' when the peer ended or reset the connection before the hello was whole (no handshake
 * can follow). Listeners give the socket the certificate for the hello's SNI name from the start:
 * choosing it only in Node's SNICallback adds it to the first context's certificate, and OpenSSL
 * may then present the first one (an ECDSA certificate is preferred to an RSA one). The wait never
 * rejects and lasts at most timeoutMs.
 */
export async function readClientHello(raw: net.Socket, timeoutMs: number): Promise<ClientHelloInfo | null | 'gone'> {
  const hello = parseClientHello(await peekFirstRecord(raw, timeoutMs));
  return raw.destroyed || raw.readableEnded ? 'gone' : hello;
}
