// One IMAP connection (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1) on the session core
// (src/net/line-session.ts): the framer turns bytes into commands and literals, step() takes one
// framer event and runs it; the core owns timers, the error budget, backpressure, half-close,
// shutdown and what a command holds open. The session never owns the socket (src/net/transport.ts).
import type { ServerContext } from '../../context.js';
import type { Session, Transport } from '../../net/transport.js';
import { LineSession, type EndReason } from '../../net/line-session.js';
import type { Account, BlobWriter, ChangeEvent } from '../../store/types.js';
import { ImapFramer, type CommandPart, type FramerEvent, type LiteralDecision, type LiteralInfo } from '../wire/framer.js';
import { ArgReader, ImapParseError, replyTag, tokenizeCommand } from '../wire/tokenizer.js';
import { mailboxName } from '../wire/compose.js';
import { ImapError, toImapError } from './errors.js';
import { ANSWERED, type CommandDescriptor, type ImapConn, type ImapState } from './conn.js';
import { SelectedView } from './view.js';
import { COMMANDS } from './dispatch.js';
import { flushPending } from './notify.js';
import { appendLiteralRole, appendSizeRefusal } from '../commands/append.js';
import { deflateLayer } from '../compress.js';
import type { NotifyState } from '../commands/notify.js';
import { checkUidOnly } from '../commands/uidonly.js';

/** Input held before we stop reading from the socket. */
const PAUSE_ABOVE = 256 * 1024;
const RESUME_BELOW = 64 * 1024;
/** Largest literal accepted outside APPEND before login (RFC 9051 §11.1: keep pre-auth cheap). */
const PREAUTH_LITERAL_MAX = 8 * 1024;

/** A literal streamed into a blob (APPEND) while it arrives; the session holds its abort until the command ends. */
export interface StreamHandle {
  writer: BlobWriter;
  error: unknown;
}

export function createImapSession(ctx: ServerContext, transport: Transport): Session {
  return new ImapSession(ctx, transport);
}

export class ImapSession extends LineSession<ImapFramer> implements ImapConn {
  state: ImapState = 'notauth';
  account: Account | null = null;
  selected: SelectedView | null = null;
  rev2 = false;
  utf8 = false;
  savedSearch: number[] = [];
  idling = false;
  condstore = false;
  qresync = false;
  notify: NotifyState | null = null;
  uidonly = false;
  /** A command is being run (from its line to its tagged reply). */
  private commandRunning = false;

  /** A command is reading a continuation line: literals are refused. */
  private readingLine = false;
  private unsubscribe: (() => void) | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    readonly ctx: ServerContext,
    transport: Transport,
  ) {
    const framer = new ImapFramer({ maxCommandLength: ctx.config.imap.max_command_length, decide: (i) => this.decideLiteral(i) });
    super(transport, framer, ctx.logger.child({ proto: 'imap', conn: transport.id }), { highWater: PAUSE_ABOVE, lowWater: RESUME_BELOW });
  }

  // --- the protocol's part of the session core ------------------------------------------

  protected greet(): boolean {
    // Issue 10 item 7: imap.preauth_timeout is the time to log in, counted from connect; a
    // client that keeps sending NOOP is dropped when it passes.
    this.startDeadline(this.ctx.config.imap.preauth_timeout);
    this.send(`* OK [CAPABILITY ${this.capabilities().join(' ')}] Yubin IMAP4rev2 ready`);
    return true;
  }

  /** RFC 9051 §5.4: the autologout timer (at least 30 minutes by default) runs while the client is silent. */
  protected idleTimeoutMs(): number {
    return this.ctx.config.imap.autologout;
  }

  /** Several bad commands before login end the connection (RFC 9051 §11 hygiene; Dovecot does the same). */
  protected override errorBudget(): number {
    return this.state === 'notauth' ? this.ctx.config.imap.max_bad_commands_before_login : Infinity;
  }

  protected goodbye(reason: EndReason): string {
    this.state = 'logout';
    switch (reason) {
      case 'idle-timeout':
        return '* BYE Autologout; idle for too long\r\n';
      case 'deadline':
        return '* BYE Autologout; not logged in in time\r\n';
      case 'too-many-errors':
        return '* BYE Too many invalid commands\r\n';
      case 'shutdown':
        return '* BYE Server shutting down\r\n';
      case 'internal-error':
        return '* BYE Internal error\r\n';
    }
  }

  protected override onEnd(): void {
    this.state = 'logout';
    this.idling = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.notify?.stop();
    this.notify = null;
    this.selected?.close();
    this.selected = null;
  }

  protected async step(): Promise<boolean> {
    const ev = await this.take((f) => f.next());
    if (!ev) return false;
    await this.handleEvent(ev);
    return !this.ended && this.state !== 'logout';
  }

  // --- ImapConn -------------------------------------------------------------------------

  send(line: string): void {
    this.write(line + '\r\n');
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
      // RFC 5256, RFC 5957, RFC 5267 §3, RFC 5032 (src/imap/sort.ts, thread.ts)
      'SORT',
      'SORT=DISPLAY',
      'THREAD=ORDEREDSUBJECT',
      'THREAD=REFERENCES',
      'ESORT',
      // RFC 5267 §4 (src/imap/context.ts): RETURN (UPDATE), ADDTO/REMOVEFROM, CANCELUPDATE
      'CONTEXT=SEARCH',
      'CONTEXT=SORT',
      'WITHIN',
      // RFC 9394: RETURN (PARTIAL) for SEARCH and SORT, the PARTIAL FETCH modifier (commands/fetch.ts)
      'PARTIAL',
      'STATUS=SIZE',
      'BINARY',
      'QUOTA',
      'QUOTA=RES-STORAGE',
      `APPENDLIMIT=${cfg.imap.append_limit}`,
      'MULTIAPPEND',
      'CATENATE',
      'REPLACE',
      'COMPRESS=DEFLATE',
      'CREATE-SPECIAL-USE',
      'UTF8=ACCEPT',
      // RFC 7162 §3.1, §3.2
      'CONDSTORE',
      'QRESYNC',
      // RFC 8474, RFC 8514, RFC 8970 (src/imap/commands/objectid.ts)
      'OBJECTID',
      'SAVEDATE',
      'PREVIEW',
      // RFC 5464 §1 (src/imap/commands/metadata.ts): mailbox and server entries
      'METADATA',
      'METADATA-SERVER',
      // RFC 5465 (src/imap/commands/notify.ts)
      'NOTIFY',
      // RFC 9586 (src/imap/commands/uidonly.ts)
      'UIDONLY',
    );
    return caps;
  }

  async flush(allowExpunge: boolean): Promise<void> {
    // One flush at a time: IDLE pushes and a command's end must not interleave.
    while (this.flushing) await this.flushing;
    const sel = this.selected;
    const before = sel?.maxUid ?? 0;
    const p = flushPending(this, allowExpunge);
    this.flushing = p;
    try {
      await p;
    } finally {
      this.flushing = null;
    }
    // RFC 5465 §5.1: MessageNew's fetch attributes for the new messages just announced
    if (this.notify && sel && sel === this.selected && sel.maxUid > before) await this.notify.fetchNew([...sel.uids.between(before + 1, sel.maxUid)]);
  }

  canPush(): boolean {
    return !this.ended && (!this.commandRunning || this.idling);
  }

  finishTagged(tag: string, status: 'OK' | 'NO' | 'BAD', code: string | null, text: string): void {
    this.send(`${tag} ${status} ${code ? `[${code}] ` : ''}${text}`);
  }

  async readLine(): Promise<Buffer | null> {
    this.readingLine = true;
    let ev: FramerEvent | null;
    try {
      ev = await this.take((f) => f.next());
    } finally {
      this.readingLine = false;
    }
    if (!ev) return null;
    switch (ev.type) {
      case 'command': {
        const p = ev.parts[0];
        return ev.parts.length === 1 && p && p.kind === 'text' ? p.bytes : Buffer.alloc(0);
      }
      case 'rejected':
        if (ev.close) {
          this.bye('Literal refused; cannot continue this connection');
          return null;
        }
        throw new ImapError('BAD', null, 'Literal not expected here');
      case 'too-long':
        this.tooLong();
        return null;
      default:
        // decideLiteral refuses every literal while a line is read: no continuation, no data.
        throw new Error(`unexpected framer event ${ev.type} while reading a line`);
    }
  }

  loggedIn(account: Account): void {
    this.account = account;
    this.state = 'auth';
    this.resetErrors();
    this.clearDeadline();
    this.unsubscribe = this.ctx.store.changes.subscribe(account.id, (ev) => this.onChange(ev));
  }

  mailboxOut(name: string): string {
    return mailboxName(name, this.utf8);
  }

  setSelected(view: SelectedView | null): void {
    // the mailbox index of the previous mailbox may be evicted now
    if (this.selected !== view) this.selected?.close();
    this.selected = view;
    this.state = view ? 'selected' : this.account ? 'auth' : 'notauth';
  }

  bye(text: string): void {
    if (this.ended) return;
    this.send(`* BYE ${text}`);
    this.state = 'logout';
    this.close();
  }

  logout(): void {
    this.state = 'logout';
  }

  compressed = false;

  startCompression(): void {
    // RFC 4978 §3: compression starts right after the tagged OK (a layer over the transport)
    this.installLayer(deflateLayer);
    this.compressed = true;
  }

  async startTls(): Promise<void> {
    // RFC 9051 §6.2.1, RFC 3207 §4.2 (CVE-2011-0411): nothing received before the handshake counts
    await this.upgradeTls();
  }

  // --- internals ------------------------------------------------------------------------

  private onChange(ev: ChangeEvent): void {
    this.notify?.onEvent(ev);
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
    // RFC 2177 §3: while idling, changes are reported at once; RFC 5465 §5.1: with NOTIFY (SELECTED ...)
    // also between commands (selected-delayed: EXPUNGE waits for a command that allows it)
    const push = this.notify?.pushSelected();
    if (this.idling || (push?.push && !this.commandRunning)) void this.flush(this.idling || push!.expunge).catch((e) => this.log.error({ err: e }, 'idle push failed'));
  }

  private decideLiteral(info: LiteralInfo): LiteralDecision {
    // A continuation line (AUTHENTICATE, DONE) is one line: readLine() answers BAD for its command.
    if (this.readingLine) return { action: 'reject', response: '' };
    const head = info.parts[0];
    const tag = head && head.kind === 'text' ? replyTag(head.bytes) : '*';
    // RFC 9051 §6.3.12, RFC 3502, RFC 4469, RFC 8508: message data of APPEND (each message of a
    // MULTIAPPEND, each CATENATE TEXT part) and REPLACE is streamed; the mailbox name is not.
    if (appendLiteralRole(info.parts) === 'message') {
      if (this.state !== 'auth' && this.state !== 'selected') return { action: 'reject', response: `${tag} BAD Not logged in` };
      // RFC 7889 §4: a message larger than APPENDLIMIT is refused with TOOBIG before "+" is sent
      const tooBig = appendSizeRefusal(info, this.ctx.config.imap.append_limit);
      if (tooBig) return { action: 'reject', response: `${tag} NO [TOOBIG] ${tooBig}` };
      const writer = this.ctx.store.blobs.createWriter();
      // Issue 10 item 3: the temporary file is the command's; whatever ends the command
      // (OK, NO, BAD, a refused second literal, disconnect, timeout, shutdown) releases it.
      this.hold(() => writer.abort());
      const handle: StreamHandle = { writer, error: null };
      return { action: 'stream', handle };
    }
    if (this.state === 'notauth' && info.size > PREAUTH_LITERAL_MAX) return { action: 'reject', response: `${tag} BAD [TOOBIG] Literal too big before login` };
    return { action: 'buffer' };
  }

  private tooLong(): void {
    this.send('* BAD [TOOBIG] Command line too long');
    this.bye('Command line too long');
  }

  private async handleEvent(ev: FramerEvent): Promise<void> {
    switch (ev.type) {
      case 'continue':
        // RFC 9051 §7.6: command continuation request
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
        // The command being framed is dropped: what it opened (an earlier literal's blob) goes too.
        await this.release();
        this.send(ev.response);
        if (ev.close) this.bye('Literal refused; cannot continue this connection');
        else if (this.state === 'notauth') this.countError();
        return;
      case 'too-long':
        this.tooLong();
        return;
      case 'command':
        // A push between commands (NOTIFY, RFC 5465) ends before the command starts.
        while (this.flushing) await this.flushing;
        this.commandRunning = true;
        try {
          await this.runCommand(ev.parts);
        } finally {
          this.commandRunning = false;
          // The command is over however it ended: release what it held open.
          await this.release();
        }
        // RFC 5465 §3: notifications held while the command ran
        this.notify?.kick();
        return;
    }
  }

  private async runCommand(parts: CommandPart[]): Promise<void> {
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
      const desc: CommandDescriptor | undefined = COMMANDS.get(name);
      if (!desc || (uid && !desc.flags?.uid)) throw new ImapError('BAD', null, `Unknown command ${uid ? 'UID ' : ''}${name.slice(0, 32)}`);
      if (!desc.states.includes(this.state)) {
        const why = this.state === 'notauth' ? 'Log in first' : this.state === 'auth' ? 'Select a mailbox first' : 'Not allowed now';
        throw new ImapError('BAD', null, `${name}: ${why}`);
      }
      let parsed: unknown;
      try {
        parsed = desc.parse(new ArgReader(args, tag), { utf8: this.utf8, uid });
      } catch (e) {
        desc.onParseError?.(this, e);
        if (e instanceof ImapParseError) throw new ImapError('BAD', null, e.message);
        throw e;
      }
      // RFC 9586 §3: after ENABLE UIDONLY, sequence numbers are BAD [UIDREQUIRED]
      checkUidOnly(this, name, uid, parsed);
      // RFC 9051 §6.3.3: a mailbox opened with EXAMINE is read-only; checked here once for every command that writes
      if (desc.flags?.writes && this.selected?.readOnly) throw new ImapError('NO', 'READ-ONLY', 'Mailbox is read-only');
      // The store's read barrier: a change committed but not yet on disk is never shown to a
      // client (docs/store.md "Durability": a power cut could still take it back).
      const barrier = this.ctx.store.durable?.();
      if (barrier) await barrier;
      let result;
      try {
        result = await desc.run(this, parsed, { tag, name, uid });
      } catch (e) {
        if (e instanceof ImapParseError) throw new ImapError('BAD', null, e.message);
        throw e;
      }
      if (result === ANSWERED || this.ended) return;
      // RFC 9051 §7.5.1: no EXPUNGE while answering FETCH, STORE, SEARCH by sequence number
      if (this.state !== 'logout') await this.flush(uid || !desc.flags?.usesSeqs);
      const r = result ?? {};
      const fullName = uid ? `UID ${name}` : name;
      this.finishTagged(tag, r.status ?? 'OK', r.code ?? null, r.text ?? `${fullName} completed`);
      // RFC 9051 §6.1.3: LOGOUT's tagged OK is the last thing the server sends
      if (this.state === 'logout') this.close();
    } catch (e) {
      const ie = toImapError(e);
      if (this.ended) {
        // The client left (or was sent away) while the command ran: nobody to answer.
        if (!ie) this.log.info({ err: e }, 'command ended with the session');
        return;
      }
      if (!ie) {
        this.log.error({ err: e }, 'command failed');
        this.finishTagged(tag, 'NO', 'SERVERBUG', 'Internal error; the command was not completed');
        return;
      }
      this.finishTagged(tag, ie.status, ie.code, ie.message);
      if (ie.status === 'BAD' && this.state === 'notauth') this.countError();
    }
  }
}
