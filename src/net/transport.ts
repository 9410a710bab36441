// The seam between a protocol session and the network (DESIGN.md "Rules of the house"):
// a session never owns a socket. It receives bytes through ingest() and writes through a
// Transport, so the same session runs over TCP, TLS or a test pipe (test/helpers/pipe.ts).
import type { ListenerName } from '../config/schema.js';

export interface TlsInfo {
  /** e.g. "TLSv1.3" */
  protocol: string;
  /** e.g. "TLS_AES_256_GCM_SHA384" */
  cipher: string;
  /** SNI server name the client asked for, if any. */
  servername: string | null;
}

export interface Transport {
  /** Which listener accepted the connection ("smtp", "submission", "imaps", ...). */
  readonly listener: ListenerName;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Unique id of this connection, for logs. */
  readonly id: string;
  /** Null until TLS is up (implicit TLS listeners start with it set). */
  readonly tls: TlsInfo | null;
  /** Queues bytes for the peer. Returns false when the peer is slow: await drain() before writing much more. */
  write(data: string | Uint8Array): boolean;
  /** Resolves when buffered output has been flushed to the socket (or at once if nothing is buffered). */
  drain(): Promise<void>;
  /**
   * STARTTLS/STLS: upgrade to TLS as server. Any bytes the peer sent after the command and
   * before the handshake are discarded (RFC 3207 §4.2, RFC 2595 §3.1, CVE-2011-0411); resolves
   * once the handshake is done, rejects if it fails (the connection is then closed).
   * The caller writes its "go ahead" reply before calling this, and must itself drop any input
   * it has buffered but not yet processed (a pipelined command after STARTTLS in the same chunk).
   */
  startTls(): Promise<TlsInfo>;
  /** Stop / restart delivering input to ingest() (bounded memory while a command works). */
  pause(): void;
  resume(): void;
  /** Flushes what was written, then closes. */
  close(): void;
}

/** A protocol session: one per connection, created by a listener's factory. */
export interface Session {
  /** Called once, when the connection is ready (after the TLS handshake on implicit-TLS listeners). */
  start(): void;
  /** Bytes from the peer, in order. */
  ingest(chunk: Buffer): void;
  /**
   * The peer sent FIN (half-close). What it sent before is still answered; then the session
   * ends as soon as it has nothing left to answer. Sessions on src/net/line-session.ts do this.
   */
  peerEnd?(): void;
  /** The peer closed, or the connection failed or timed out; release resources. */
  closed(): void;
  /** SIGTERM: finish what is in flight, say goodbye (421 / BYE / -ERR), close. Resolves when closed. */
  shutdown(): Promise<void>;
}

export type SessionFactory = (transport: Transport) => Session;
