// A minimal line-oriented client over a real socket (TCP or TLS) for integration tests that need
// byte-level control (pipelining, raw commands). Real-client tests use nodemailer, imapflow, etc.
import net from 'node:net';
import tls from 'node:tls';

export class LineClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closed = false;
  constructor(public socket: net.Socket) {
    this.attach(socket);
  }
  private attach(socket: net.Socket): void {
    socket.setEncoding('binary');
    socket.on('data', (d: string) => {
      this.buf += d;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }
  static connect(port: number, host = '127.0.0.1', opts: { tls?: boolean } = {}): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = opts.tls ? tls.connect({ port, host, rejectUnauthorized: false }, () => resolve(new LineClient(s))) : net.connect({ port, host }, () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }
  write(data: string): void {
    this.socket.write(Buffer.from(data, 'binary'));
  }
  /** Upgrades the connection to TLS (after the server said go ahead). */
  async startTls(): Promise<void> {
    const plain = this.socket;
    plain.removeAllListeners('data');
    await new Promise<void>((resolve, reject) => {
      const s = tls.connect({ socket: plain, rejectUnauthorized: false }, () => resolve());
      s.once('error', reject);
      this.socket = s;
    });
    this.attach(this.socket);
  }
  /** Waits until the received text matches, returns it all and clears the buffer. */
  async waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pattern.test(this.buf)) {
        const s = this.buf;
        this.buf = '';
        return s;
      }
      if (this.closed) throw new Error(`connection closed waiting for ${pattern}; got ${JSON.stringify(this.buf)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${pattern}; got ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  /** Reads one complete SMTP reply (through the line "NNN text"). */
  smtpReply(timeoutMs?: number): Promise<string> {
    return this.waitFor(/(^|\r\n)\d{3} [^\r\n]*\r\n$/, timeoutMs);
  }
  /** Sends a command line and reads the SMTP reply. */
  async smtp(line: string): Promise<string> {
    this.write(line + '\r\n');
    return this.smtpReply();
  }
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('timeout waiting for close');
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close(): void {
    this.socket.destroy();
  }
}
