// One IMAP connection (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1): framing, state, dispatch,
// change notifications, timers. The session never owns the socket (src/net/transport.ts).
import type { ServerContext } from '../../context.js';
import type { Session, Transport } from '../../net/transport.js';
import type { Account, BlobWriter, ChangeEvent } from '../../store/types.js';
import type { Logger } from '../../log/logger.js';
import { ImapFramer, type CommandPart, type FramerEvent, type LiteralDecision, type LiteralInfo } from '../wire/framer.js';
import { ArgReader, ImapParseError, tokenizeCommand } from '../wire/tokenizer.js';
import { mailboxName } from '../wire/compose.js';
import { ImapError, toImapError } from './errors.js';
import { PENDING, type ImapConn, type ImapState, type LineHandler } from './conn.js';
import { SelectedView } from './view.js';
import { decodeMailboxName } from './names.js';
import { COMMANDS } from './dispatch.js';
import { flushPending } from './notify.js';

/** Input held before we stop reading from the socket. */
const PAUSE_ABOVE = 256 * 1024;
const RESUME_BELOW = 64 * 1024;
/** Largest literal accepted outside APPEND before login (RFC 9051 §11.1: keep pre-auth cheap). */
const PREAUTH_LITERAL_MAX = 8 * 1024;

/** A literal streamed into a blob (APPEND). */
export interface StreamHandle {
  writer: BlobWriter;
  error: unknown;
  finished: boolean;
}

export function createImapSession(ctx: ServerContext, transport: Transport): Session {
  return new ImapSession(ctx, transport);
}

class ImapSession implements Session, ImapConn {
  state: ImapState = 'notauth';
  account: Account | null = null;
  selected: SelectedView | null = null;
  rev2 = false;
  utf8 = false;
  savedSearch: number[] = [];
  idling = false;
  readonly log: Logger;

  private readonly framer: ImapFramer;
  private running = false;
  private lineHandler: LineHandler | null = null;
  private unsubscribe: (() => void) | null = null;
  private badBeforeLogin = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastActivity = Date.now();
  private streams: StreamHandle[] = [];
  private inFlight: Promise<void> | null = null;
  private closing = false;
  private flushing: Promise<void> | null = null;

  constructor(
    readonly ctx: ServerContext,
    readonly transport: Transport,
  ) {
    this.log = ctx.logger.child({ proto: 'imap', conn: transport.id });
    this.framer = new ImapFramer({ maxCommandLength: ctx.config.imap.max_command_length, decide: (i) => this.decideLiteral(i) });
  }

  // --- Session --------------------------------------------------------------------------

  start(): void {
    this.armTimer();
    this.send(`* OK [CAPABILITY ${this.capabilities().join(' ')}] Yubin IMAP4rev2 ready`);
  }

  ingest(chunk: Buffer): void {
    if (this.closing) return;
    this.lastActivity = Date.now();
    this.framer.push(chunk);
    if (this.framer.buffered > PAUSE_ABOVE) this.transport.pause();
    void this.pump();
  }

  closed(): void {
    this.cleanup();
  }

  async shutdown(): Promise<void> {
    if (this.inFlight) await Promise.race([this.inFlight, new Promise((r) => setTimeout(r, 5000).unref())]);
    this.bye('Server shutting down');
  }

  // --- ImapConn -------------------------------------------------------------------------

  send(line: string): void {
    if (this.closing && this.state === 'logout') return;
    this.transport.write(line + '\r\n');
  }

  async write(data: string | Uint8Array): Promise<void> {
    if (!this.transport.write(data)) await this.transport.drain();
  }

  capabilities(): string[] {
    const caps = ['IMAP4rev1', 'IMAP4rev2'];
    const cfg = this.ctx.config;
    if (this.state === 'notauth') {
      if (!this.transport.tls) caps.push('STARTTLS');
      // RFC 9051 §6.2.3, RFC 3501 §6.2.3: LOGINDISABLED while plaintext login is refused
      if (this.transport.tls || cfg.auth.allow_plaintext) caps.push('AUTH=PLAIN', 'AUTH=LOGIN');
      else caps.push('LOGINDISABLED');
      caps.push('SASL-IR');
    }
    caps.push(
      'LITERAL+',
      'ENABLE',
      'ID',
      'IDLE',
      'NAMESPACE',
      'UNSELECT',
      'UIDPLUS',
      'MOVE',
      'CHILDREN',
      'LIST-EXTENDED',
      'LIST-STATUS',
      'SPECIAL-USE',
      'ESEARCH',
      'SEARCHRES',
      'STATUS=SIZE',
      'BINARY',
      'QUOTA',
      'QUOTA=RES-STORAGE',
      `APPENDLIMIT=${cfg.imap.append_limit}`,
      'UTF8=ACCEPT',
    );
    return caps;
  }

  async flush(allowExpunge: boolean): Promise<void> {
    // One flush at a time: IDLE pushes and a command's end must not interleave.
    while (this.flushing) await this.flushing;
    const p = flushPending(this, allowExpunge);
    this.flushing = p;
    try {
      await p;
    } finally {
      this.flushing = null;
    }
  }

  finishTagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): void {
    this.send(`${tag} ${status} ${code ? `[${code}] ` : ''}${text}`);
  }

  setLineHandler(handler: LineHandler | null): void {
    this.lineHandler = handler;
  }

  loggedIn(account: Account): void {
    this.account = account;
    this.state = 'auth';
    this.badBeforeLogin = 0;
    this.unsubscribe = this.ctx.store.changes.subscribe(account.id, (ev) => this.onChange(ev));
    this.armTimer();
  }

  mailboxArg(args: ArgReader): string {
    return decodeMailboxName(args.astringBytes(), this.utf8);
  }

  mailboxOut(name: string): string {
    return mailboxName(name, this.utf8);
  }

  setSelected(view: SelectedView | null): void {
    this.selected = view;
    this.state = view ? 'selected' : this.account ? 'auth' : 'notauth';
  }

  bye(text: string): void {
    if (this.closing) return;
    this.send(`* BYE ${text}`);
    this.closing = true;
    this.state = 'logout';
    this.transport.close();
    this.cleanup();
  }

  async startTls(): Promise<void> {
    // RFC 9051 §6.2.1, RFC 3207 §4.2 (CVE-2011-0411): nothing received before the handshake counts
    this.framer.discardBuffered();
    await this.transport.startTls();
    this.armTimer();
  }

  // --- internals ------------------------------------------------------------------------

  private onChange(ev: ChangeEvent): void {
    const sel = this.selected;
    if (!sel || !('mailboxId' in ev) || ev.mailboxId !== sel.mailboxId) return;
    if (ev.type === 'mailbox-deleted') {
      this.bye('Selected mailbox was deleted');
      return;
    }
    if (ev.type === 'mailbox-renamed') {
      sel.name = ev.name;
      return;
    }
    if (ev.type !== 'message-added' && ev.type !== 'messages-expunged' && ev.type !== 'flags-changed') return;
    sel.queue(ev);
    // RFC 2177 §3: while idling, changes are reported at once
    if (this.idling) void this.flush(true).catch((e) => this.log.error({ err: e }, 'idle push failed'));
  }

  private armTimer(): void {
    // One timer per connection, re-checked rather than re-created on every byte.
    if (this.timer) clearTimeout(this.timer);
    const limit = this.timeoutMs();
    this.timer = setTimeout(() => this.onTimer(), limit);
    this.timer.unref?.();
  }

  private timeoutMs(): number {
    const cfg = this.ctx.config.imap;
    return this.state === 'notauth' ? Math.min(cfg.preauth_timeout, cfg.autologout) : cfg.autologout;
  }

  private onTimer(): void {
    this.timer = null;
    if (this.closing) return;
    const idleFor = Date.now() - this.lastActivity;
    const limit = this.timeoutMs();
    if (idleFor >= limit && !this.running) {
      // RFC 9051 §5.4: autologout after at least 30 minutes of inactivity
      this.bye('Autologout; idle for too long');
      return;
    }
    this.timer = setTimeout(() => this.onTimer(), Math.max(limit - idleFor, 1000));
    this.timer.unref?.();
  }

  private cleanup(): void {
    this.closing = true;
    if (this.state !== 'logout') this.state = 'logout';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.selected = null;
    for (const s of this.streams.splice(0)) if (!s.finished) void s.writer.abort().catch(() => {});
  }

  private decideLiteral(info: LiteralInfo): LiteralDecision {
    const head = info.parts[0];
    const text = head && head.kind === 'text' ? head.bytes.toString('latin1') : '';
    const m = /^(\S+) +(?:(UID) +)?(\S+)/i.exec(text);
    const tag = m ? m[1]! : '*';
    if (this.lineHandler) return { action: 'reject', response: `${tag} BAD Literal not expected here` };
    const name = m ? m[3]!.toUpperCase() : '';
    // RFC 9051 §6.3.12: APPEND mailbox [flags] [date-time] message; the mailbox itself may be a literal
    const mailboxLiteral = name === 'APPEND' && info.parts.length === 1 && m !== null && text.slice(m[0].length).trim() === '';
    if (name === 'APPEND' && !mailboxLiteral && !info.parts.some((p) => p.kind === 'stream')) {
      if (this.state !== 'auth' && this.state !== 'selected') return { action: 'reject', response: `${tag} BAD Not logged in` };
      // RFC 7889 §4: a message larger than APPENDLIMIT is refused with TOOBIG before "+" is sent
      if (info.size > this.ctx.config.imap.append_limit) return { action: 'reject', response: `${tag} NO [TOOBIG] Message larger than APPENDLIMIT ${this.ctx.config.imap.append_limit}` };
      const handle: StreamHandle = { writer: this.ctx.store.blobs.createWriter(), error: null, finished: false };
      this.streams.push(handle);
      return { action: 'stream', handle };
    }
    if (name === 'APPEND' && !mailboxLiteral) return { action: 'reject', response: `${tag} BAD Only one message per APPEND` };
    if (this.state === 'notauth' && info.size > PREAUTH_LITERAL_MAX) return { action: 'reject', response: `${tag} BAD [TOOBIG] Literal too big before login` };
    return { action: 'buffer' };
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (;;) {
        if (this.closing) return;
        const ev = this.framer.next();
        if (!ev) break;
        const p = this.handleEvent(ev);
        this.inFlight = p;
        await p;
        this.inFlight = null;
      }
    } catch (e) {
      this.log.error({ err: e }, 'imap session failed');
      this.bye('Internal error');
    } finally {
      this.running = false;
      this.lastActivity = Date.now();
      if (!this.closing && this.framer.buffered < RESUME_BELOW) this.transport.resume();
    }
  }

  private async handleEvent(ev: FramerEvent): Promise<void> {
    switch (ev.type) {
      case 'continue':
        // RFC 9051 §7.5: command continuation request
        this.send('+ Ready for literal data');
        return;
      case 'literal-data': {
        const h = ev.handle as StreamHandle;
        if (h.error) return;
        try {
          if (ev.chunk.length) await h.writer.write(ev.chunk);
        } catch (e) {
          h.error = e;
        }
        return;
      }
      case 'rejected':
        this.send(ev.response);
        if (ev.close) this.bye('Literal refused; cannot continue this connection');
        else if (this.state === 'notauth') this.countBad();
        return;
      case 'too-long':
        this.send('* BAD [TOOBIG] Command line too long');
        this.bye('Command line too long');
        return;
      case 'command':
        await this.runCommand(ev.parts);
        return;
    }
  }

  private countBad(): void {
    // Several bad commands before login end the connection (RFC 9051 §11 hygiene; Dovecot does the same).
    if (this.state !== 'notauth') return;
    this.badBeforeLogin++;
    if (this.badBeforeLogin >= this.ctx.config.imap.max_bad_commands_before_login) this.bye('Too many invalid commands');
  }

  private async runCommand(parts: CommandPart[]): Promise<void> {
    if (this.lineHandler) {
      const handler = this.lineHandler;
      const text = parts.length === 1 && parts[0]!.kind === 'text' ? parts[0]!.bytes : Buffer.alloc(0);
      await handler(text);
      return;
    }
    const streamParts = parts.filter((p): p is Extract<CommandPart, { kind: 'stream' }> => p.kind === 'stream');
    let tag = '*';
    try {
      let cmd;
      try {
        cmd = tokenizeCommand(parts);
      } catch (e) {
        if (e instanceof ImapParseError) {
          if (e.tag) tag = e.tag;
          throw new ImapError('BAD', null, e.message);
        }
        throw e;
      }
      tag = cmd.tag;
      let name = cmd.name;
      let args = cmd.args;
      let uid = false;
      if (name === 'UID') {
        const sub = args[0];
        if (!sub || sub.t !== 'atom') throw new ImapError('BAD', null, 'UID needs a command');
        name = sub.v.toUpperCase();
        args = args.slice(1);
        uid = true;
      }
      const desc = COMMANDS.get(name);
      if (!desc || (uid && !desc.uid)) throw new ImapError('BAD', null, `Unknown command ${uid ? 'UID ' : ''}${name.slice(0, 32)}`);
      if (!desc.states.includes(this.state)) {
        const why = this.state === 'notauth' ? 'Log in first' : this.state === 'auth' ? 'Select a mailbox first' : 'Not allowed now';
        throw new ImapError('BAD', null, `${name}: ${why}`);
      }
      const reader = new ArgReader(args, tag);
      let result;
      try {
        result = await desc.run({ tag, name, uid, args: reader, conn: this });
      } catch (e) {
        if (e instanceof ImapParseError) throw new ImapError('BAD', null, e.message);
        throw e;
      }
      if (result === PENDING || this.closing) return;
      // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE, SEARCH by sequence number
      await this.flush(uid || !desc.usesSeqs);
      const r = result ?? {};
      const fullName = uid ? `UID ${name}` : name;
      this.finishTagged(tag, r.status ?? 'OK', r.code ?? null, r.text ?? `${fullName} completed`);
    } catch (e) {
      const ie = toImapError(e);
      if (!ie) {
        this.log.error({ err: e }, 'command failed');
        this.finishTagged(tag, 'NO', 'SERVERBUG', 'Internal error; the command was not completed');
        return;
      }
      if (this.closing) return;
      this.finishTagged(tag, ie.status, ie.code, ie.message);
      if (ie.status === 'BAD') this.countBad();
    } finally {
      for (const p of streamParts) {
        const h = p.handle as StreamHandle;
        if (!h.finished) {
          h.finished = true;
          await h.writer.abort().catch(() => {});
        }
        const i = this.streams.indexOf(h);
        if (i >= 0) this.streams.splice(i, 1);
      }
    }
  }
}

