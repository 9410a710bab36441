// COMPRESS=DEFLATE (RFC 4978) as a transport layer (src/net/line-session.ts installLayer): after
// the tagged OK of COMPRESS, everything the server writes is raw DEFLATE (RFC 1951, no zlib or
// gzip header) and everything the client sends is inflated before the framer sees it. The
// session and its commands do not know: they write and read as before.
//
// RFC 4978 §4: output is flushed with Z_SYNC_FLUSH whenever the server has written what it has
// to say for now, so the client can decompress every response without waiting for more. Writes
// of one turn of the event loop (the lines of a response) share one flush.
import { constants, createDeflateRaw, createInflateRaw, type DeflateRaw, type InflateRaw } from 'node:zlib';
import type { TransportLayer } from '../net/line-session.js';
import type { TlsInfo, Transport } from '../net/transport.js';

/** Decompressed input held while the session has not taken it: the inflater pauses above this. */
const INFLATE_CHUNK = 16 * 1024;

export class DeflateTransport implements Transport, TransportLayer {
  readonly transport: Transport = this;
  private readonly deflate: DeflateRaw;
  private readonly inflate: InflateRaw;
  private flushQueued = false;
  /** The inner transport said its buffer is full; cleared by drain(). */
  private blocked = false;
  private closing = false;
  /** Octets before and after compression (tests, logs). */
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    private readonly inner: Transport,
    deliver: (chunk: Buffer) => void,
    fail: (err: unknown) => void,
  ) {
    // RFC 4978 §3: raw DEFLATE; a 32 KiB window (windowBits 15) as the RFC's examples assume.
    this.deflate = createDeflateRaw({ level: 6, memLevel: 8 });
    this.inflate = createInflateRaw({ chunkSize: INFLATE_CHUNK });
    this.deflate.on('data', (chunk: Buffer) => {
      this.bytesOut += chunk.length;
      if (!this.inner.write(chunk)) this.blocked = true;
    });
    this.deflate.on('error', fail);
    this.inflate.on('data', (chunk: Buffer) => deliver(chunk));
    // RFC 4978 §3: input that does not inflate ends the connection (nothing can be resynchronised).
    this.inflate.on('error', fail);
  }

  get listener(): Transport['listener'] {
    return this.inner.listener;
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get localAddress(): string {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get id(): string {
    return this.inner.id;
  }
  get tls(): TlsInfo | null {
    return this.inner.tls;
  }

  /** Compressed bytes from the peer. */
  ingest(chunk: Buffer): void {
    if (this.closing) return;
    this.bytesIn += chunk.length;
    this.inflate.write(chunk);
  }

  write(data: string | Uint8Array): boolean {
    if (this.closing) return false;
    this.deflate.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        if (!this.closing) this.deflate.flush(constants.Z_SYNC_FLUSH);
      });
    }
    return !this.blocked && this.deflate.writableLength < this.deflate.writableHighWaterMark;
  }

  async drain(): Promise<void> {
    if (this.closing) return;
    // Everything written so far, compressed and handed to the inner transport, then sent.
    await new Promise<void>((resolve) => this.deflate.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    await this.inner.drain();
    this.blocked = false;
  }

  startTls(): Promise<TlsInfo> {
    // RFC 4978 §4: TLS is negotiated before COMPRESS, never inside it (STARTTLS is refused after login anyway).
    return Promise.reject(new Error('TLS cannot start inside COMPRESS'));
  }

  pause(): void {
    // A small compressed input can inflate to a great deal: stop inflating too, not only reading.
    this.inflate.pause();
    this.inner.pause();
  }

  resume(): void {
    this.inflate.resume();
    this.inner.resume();
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.inflate.destroy();
    // What was written (a BYE, LOGOUT's OK) is compressed and sent before the connection closes.
    this.deflate.flush(constants.Z_SYNC_FLUSH, () => {
      this.deflate.destroy();
      this.inner.close();
    });
  }
}

/** installLayer's factory for COMPRESS=DEFLATE. */
export function deflateLayer(inner: Transport, deliver: (chunk: Buffer) => void, fail: (err: unknown) => void): DeflateTransport {
  return new DeflateTransport(inner, deliver, fail);
}
