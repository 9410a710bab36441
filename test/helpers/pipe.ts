// A Transport for transcript tests: no sockets. The test feeds bytes with send() and reads
// what the session wrote with waitFor()/take(). startTls() pretends the handshake succeeded.
import type { ListenerName } from '../../src/config/schema.js';
import type { Session, TlsInfo, Transport } from '../../src/net/transport.js';

export class PipeTransport implements Transport {
  readonly id: string;
  remoteAddress = '127.0.0.1';
  remotePort = 40000;
  localAddress = '127.0.0.1';
  localPort = 25;
  tls: TlsInfo | null;
  closed = false;
  paused = false;
  tlsStarts = 0;
  private out: Buffer[] = [];
  private waiters: Array<() => void> = [];
  session: Session | null = null;

  constructor(
    readonly listener: ListenerName,
    opts: { tls?: boolean; remoteAddress?: string; id?: string } = {},
  ) {
    this.id = opts.id ?? Math.random().toString(36).slice(2, 10);
    if (opts.remoteAddress) this.remoteAddress = opts.remoteAddress;
    this.tls = opts.tls ? { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null } : null;
  }

  /** Creates the session with the factory and starts it. */
  attach(factory: (t: Transport) => Session): Session {
    this.session = factory(this);
    this.session.start();
    return this.session;
  }

  write(data: string | Uint8Array): boolean {
    if (this.closed) return false;
    this.out.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data));
    for (const w of this.waiters.splice(0)) w();
    return true;
  }
  async drain(): Promise<void> {}
  async startTls(): Promise<TlsInfo> {
    this.tlsStarts++;
    this.tls = { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null };
    return this.tls;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    this.session?.closed();
  }

  /** Bytes from the client. */
  send(data: string | Uint8Array): void {
    this.session!.ingest(typeof data === 'string' ? Buffer.from(data, 'binary') : Buffer.from(data));
  }

  /** The client half-closes (sends FIN): nothing more comes from it. */
  end(): void {
    this.session?.peerEnd?.();
  }

  /** Everything written so far and not yet taken. */
  peek(): string {
    return Buffer.concat(this.out).toString('utf8');
  }

  /** Takes and returns everything written so far. */
  take(): string {
    const s = this.peek();
    this.out = [];
    return s;
  }

  /** Waits until the output (not yet taken) matches, then takes it all and returns it. */
  async waitFor(pattern: RegExp | string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.peek();
      if (typeof pattern === 'string' ? s.includes(pattern) : pattern.test(s)) return this.take();
      if (this.closed) throw new Error(`closed while waiting for ${pattern}; output so far: ${JSON.stringify(s)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${pattern}; output so far: ${JSON.stringify(s)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until the session closed the transport. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('timed out waiting for close');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
