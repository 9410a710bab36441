// The cleanup and delivery stage (DESIGN.md "Queue"): after the end of data, run the data
// checks, fix up the header (Received, verdict headers, removed fields, Message-ID/Date for
// submission, the From: rule), copy the spool into staged blobs with that header in front,
// deliver local recipients into their mailboxes and hand remote ones to the outbound queue.
// Nothing here replies 250: the caller does, after this resolves (everything durable).
import type { ServerContext } from '../../context.js';
import type { CheckData, CheckVerdict } from '../../pipeline/types.js';
import type { OutboundRecipient } from '../../queue/types.js';
import { composeDsn, wantsNotify, type DsnRecipientReport } from '../../queue/dsn.js';
import type { BlobWriter, DeliveryTarget, StagedBlob } from '../../store/types.js';
import { SmtpError } from './errors.js';
import { enforceVerdict } from './verdict.js';
import { messageBytes, messageChunks, releaseMessage, type IntakeResult } from './intake.js';
import type { Recipient, Transaction } from './state.js';
import { arcSeal, srsFor } from './forward.js';
import { addressOf, mailboxesOf, parseAddresses } from '../../message/address.js';
import { headerBytesToString, parseHeaderFields } from '../../message/headers.js';
import { checkHeaderLine, fieldValue, formatDate, newMessageId, returnPathHeader, splitHeader, type HeaderField } from './headers.js';
import { runUserSieve, sendSieveMail, type SievePlan } from '../../delivery/sieve.js';

export interface DeliveryRequest {
  ctx: ServerContext;
  tx: Transaction;
  message: IntakeResult;
  /** The Received field we add (CRLF-terminated). */
  received: string;
  /** Submission: the addresses the user may send as (lower case); null on the inbound listener. */
  sendable: Set<string> | null;
  /** The facts the data checks get (every listener; the checks decide what applies), or null for none. */
  checkData: Omit<CheckData, 'messagePath' | 'messageBytes' | 'size'> | null;
  /**
   * Inbound (smtp listener, not authenticated): remote targets are alias forwards (or reversed
   * SRS bounces), enqueued with an SRS envelope sender and an ARC seal.
   */
  forwarding?: boolean;
  submittedBy?: string;
  clientIp: string;
  log: ServerContext['logger'];
}

export interface DeliveryOutcome {
  /** The id the 250 reply carries: the queue id when the queue took part of the message, else ours. */
  id: string;
  delivered: number;
  queued: number;
}

/**
 * The From: rule of submission (RFC 6409 §8.1: the server may refuse a From: that is not the
 * user's): every From: address must be one the user may send as (`sendable`, lower case: the
 * account and the aliases that reach it, as store.sendableAddresses gives them; compared whole,
 * case-insensitively). The value is read by the RFC 5322 parser the IMAP ENVELOPE uses
 * (message/address.ts), so what is accepted here is what IMAP clients show; a From: it cannot
 * parse is refused, never guessed at. Throws 553 5.7.1 with the reason; 550 5.7.1 when there is
 * no From: at all.
 */
export function checkSubmissionFrom(header: Buffer, sendable: Set<string>): void {
  const refuse = (why: string): never => {
    throw new SmtpError(553, '5.7.1', `From: header refused: ${why}`);
  };
  // The values as the message module reads them (what ENVELOPE is built from) and as the SMTP
  // side splits the header: both must pass, so no difference in field splitting (bare LF under
  // BODY=BINARYMIME, a first line that starts with WSP...) can hide a second From: from either.
  const imapView = parseHeaderFields(headerBytesToString(header).text)
    .filter((f) => f.key === 'from')
    .map((f) => f.value);
  const smtpView = splitHeader(header)
    .filter((f) => f.name === 'from')
    .map(fieldValue);
  if (!imapView.length && !smtpView.length) throw new SmtpError(550, '5.7.1', 'Message has no From: header');
  // RFC 5322 §3.6: From: occurs exactly once (readers differ in which of several they show).
  if (imapView.length > 1 || smtpView.length > 1) refuse('more than one From: field (RFC 5322 §3.6)');
  if (imapView.length !== smtpView.length) refuse('the From: field is malformed (RFC 5322 §2.2)');
  for (const value of [...imapView, ...smtpView]) {
    const r = parseAddresses(value);
    if (!r.ok) refuse(`not a valid RFC 5322 address list (${r.error} at offset ${r.offset})`);
    else {
      // RFC 5322 §3.6.2: from = "From:" mailbox-list (a group is not a mailbox).
      if (r.addresses.some((a) => a.kind === 'group')) refuse('a group is not allowed in From: (RFC 5322 §3.6.2)');
      const list = mailboxesOf(r.addresses);
      if (!list.length) refuse('no address');
      // RFC 5322 §4.4: source routes are obsolete; nothing the user needs to send.
      if (list.some((m) => m.route !== null)) refuse('source routes are not allowed');
      // A catch-all appears in `sendable` as "@domain": a marker, not an address (`""@domain`).
      if (list.some((m) => m.local === '' || !sendable.has(addressOf(m).toLowerCase()))) refuse('an address in From: is not one of your addresses');
    }
  }
}

/** RFC 6409 §8.1-8.3 (submission): the From: addresses must be the user's; Date and Message-ID are added when missing. */
function submissionFixes(ctx: ServerContext, header: Buffer, fields: HeaderField[], sendable: Set<string>): string[] {
  checkSubmissionFrom(header, sendable);
  const added: string[] = [];
  if (!fields.some((f) => f.name === 'date')) added.push(`Date: ${formatDate(ctx.now())}\r\n`);
  if (!fields.some((f) => f.name === 'message-id')) added.push(`Message-ID: ${newMessageId(ctx.config.hostname)}\r\n`);
  return added;
}

/** Writes header + the rest of the message (from `offset`) into every writer at once, chunk by chunk. */
async function copyInto(writers: BlobWriter[], head: Buffer[], message: IntakeResult, offset: number): Promise<StagedBlob[]> {
  for (const h of head) await Promise.all(writers.map((w) => w.write(h)));
  for await (const chunk of messageChunks(message, offset)) {
    await Promise.all(writers.map((w) => w.write(chunk)));
  }
  return Promise.all(writers.map((w) => w.finish()));
}

function dedupe(recipients: Recipient[]): { local: Map<number, { address: string; rcpt: Recipient }>; remote: Map<string, Recipient> } {
  const local = new Map<number, { address: string; rcpt: Recipient }>();
  const remote = new Map<string, Recipient>();
  for (const r of recipients) {
    for (const a of r.accounts) if (!local.has(a.id)) local.set(a.id, { address: a.address, rcpt: r });
    for (const x of r.remote) if (!remote.has(x.toLowerCase())) remote.set(x.toLowerCase(), r);
  }
  return { local, remote };
}

/**
 * The mailbox of each local account: Junk when the verdict is quarantine, or when the verdict
 * lists the account (or every recipient address that led to it) in quarantineRecipients (the
 * user's own spam threshold is exceeded); INBOX otherwise.
 */
function mailboxFor(verdict: CheckVerdict, accountAddress: string, via: Recipient[]): string {
  if (verdict.action === 'quarantine') return 'Junk';
  const listed = new Set((verdict.quarantineRecipients ?? []).map((a) => a.toLowerCase()));
  if (!listed.size) return 'INBOX';
  if (listed.has(accountAddress.toLowerCase())) return 'Junk';
  return via.length > 0 && via.every((r) => listed.has(r.address.toLowerCase())) ? 'Junk' : 'INBOX';
}

function outboundRecipient(address: string, r: Recipient): OutboundRecipient {
  const out: OutboundRecipient = { address };
  if (r.notify) out.notify = r.notify;
  out.orcpt = r.orcpt ?? { type: 'rfc822', address: r.address };
  return out;
}

export async function deliverMessage(req: DeliveryRequest): Promise<DeliveryOutcome> {
  const { ctx, tx, message } = req;
  const writers: BlobWriter[] = [];
  const staged: StagedBlob[] = [];
  try {
    let fields = splitHeader(message.header);
    const hasBlankLine = message.header.length >= 2 && (message.header.length === 2 || message.header.subarray(-4).toString('latin1') === '\r\n\r\n');
    // The From: rule first: a refused message does not count toward the sender's rate limit.
    const added = req.sendable ? submissionFixes(ctx, message.header, fields, req.sendable) : [];
    let verdict: CheckVerdict = { action: 'accept' };
    if (req.checkData) {
      verdict = await ctx.checks.data({ ...req.checkData, messagePath: message.path, messageBytes: message.bytes, size: message.size });
      enforceVerdict(verdict, { reject: 550, tempfail: 451, text: 'Message refused' });
    }
    if (verdict.removeHeaders?.length) {
      const rules = verdict.removeHeaders;
      fields = fields.filter((f) => !rules.some((r) => r.name.toLowerCase() === f.name && (!r.when || r.when(fieldValue(f)))));
    }
    // Newest trace information on top: verdict headers (Authentication-Results...), then our Received.
    const verdictLines = (verdict.headers ?? []).map(checkHeaderLine).filter((l): l is string => l !== null);
    const common = Buffer.concat([
      ...verdictLines.map((l) => Buffer.from(l, 'utf8')),
      Buffer.from(req.received, 'latin1'),
      ...added.map((l) => Buffer.from(l, 'latin1')),
      ...fields.map((f) => Buffer.from(f.raw, 'latin1')),
      Buffer.from(hasBlankLine ? '\r\n' : '', 'latin1'),
    ]);
    const returnPath = Buffer.from(returnPathHeader(tx.from), 'utf8');

    const { local, remote } = dedupe(tx.recipients);
    // Sieve (docs/managesieve.md): each local account's active script runs once, after the checks
    // and before the Junk decision (its keep goes where that decision says).
    const sieve = await planSieve(req, verdict, local, returnPath, common);
    const rejected = [...sieve.entries()].filter(([, p]) => p.plan.reject);
    if (rejected.length && rejected.length === local.size && remote.size === 0 && !req.sendable) {
      // RFC 5429 §2.1: refuse at the protocol level when that is possible (every recipient rejects)
      throw new SmtpError(550, '5.7.1', oneLineReason(rejected[0]![1].plan.reject!.reason));
    }
    // Local copies carry Return-Path (final delivery, RFC 5321 §4.4); the queue copy does not.
    // Forwarded copies are written later, each with its own ARC seal in front.
    const needLocal = local.size > 0;
    const needQueue = remote.size > 0 && !req.forwarding;
    // A message under 64 KiB stays in memory (no temporary file): the group commit stores the local
    // copy (in the database with SQLite, as a file written and fsynced with PostgreSQL: one round
    // for every session waiting for its 250, then one transaction); the queue keeps such a message
    // in its own row. A larger message: the local
    // copy's fsync joins the group commit's, the queue's copy is linked into the queue as it is,
    // so it is fsynced when written.
    const localWriter = needLocal ? ctx.store.blobs.createWriter({ deferSync: true, memory: true }) : null;
    const queueWriter = needQueue ? ctx.store.blobs.createWriter({ memory: true }) : null;
    if (localWriter) writers.push(localWriter);
    if (queueWriter) writers.push(queueWriter);
    // Both writers get the same chunks in parallel; only their first bytes differ.
    if (localWriter && queueWriter) {
      await localWriter.write(returnPath);
      staged.push(...(await copyInto([localWriter, queueWriter], [common], message, message.header.length)));
    } else if (localWriter) {
      staged.push(...(await copyInto([localWriter], [returnPath, common], message, message.header.length)));
    } else if (queueWriter) {
      staged.push(...(await copyInto([queueWriter], [common], message, message.header.length)));
    }
    const localBlob = localWriter ? staged[0]! : null;
    let queueBlob = queueWriter ? staged[localWriter ? 1 : 0]! : null;

    let delivered = 0;
    const failedLocal: Array<{ address: string; rcpt: Recipient; error: string }> = [];
    const deliveredLocal: Array<{ address: string; rcpt: Recipient }> = [];
    if (localBlob) {
      const entries = [...local.entries()];
      // One or more copies per account (Sieve's keep and fileinto; none after discard or reject).
      const targets: DeliveryTarget[] = [];
      const owner: number[] = [];
      const edited: Array<{ entry: number; copy: { mailbox: string; flags: string[]; raw: Buffer } }> = [];
      entries.forEach(([accountId, { address }], i) => {
        const s = sieve.get(accountId);
        if (!s) {
          targets.push({ accountId, mailbox: mailboxFor(verdict, address, tx.recipients.filter((r) => r.accounts.some((a) => a.id === accountId))) });
          owner.push(i);
          return;
        }
        for (const copy of s.plan.copies) {
          if (copy.raw) edited.push({ entry: i, copy: { ...copy, raw: copy.raw } });
          else {
            targets.push({ accountId, mailbox: copy.mailbox, flags: copy.flags });
            owner.push(i);
          }
        }
      });
      const outcome = new Map<number, { ok: boolean; error: string }>();
      const note = (i: number, ok: boolean, error: string) => {
        const prev = outcome.get(i);
        if (!prev || (prev.ok && !ok)) outcome.set(i, { ok, error });
      };
      if (targets.length) (await ctx.store.deliver(localBlob, targets)).forEach((r, k) => note(owner[k]!, r.ok, r.ok ? '' : r.error));
      for (const e of edited) {
        const blob = await ctx.store.blobs.stage(e.copy.raw);
        try {
          const [r] = await ctx.store.deliver(blob, [{ accountId: entries[e.entry]![0], mailbox: e.copy.mailbox, flags: e.copy.flags }]);
          note(e.entry, r!.ok, r!.ok ? '' : r!.error);
        } finally {
          await ctx.store.blobs.discard(blob);
        }
      }
      entries.forEach(([, { address, rcpt }], i) => {
        const r = outcome.get(i);
        // An account whose script stored nothing (discard, redirect, reject) has its message handled.
        if (!r || r.ok) {
          delivered++;
          deliveredLocal.push({ address, rcpt });
        } else failedLocal.push({ address, rcpt, error: r.error });
      });
      await ctx.store.blobs.discard(localBlob);
    }
    // Redirects, vacation replies and rejection notices are queued before the 250 (durable).
    for (const [, s] of sieve) {
      await sendSieveMail(s.input, s.plan);
      if (s.plan.reject) await rejectNotice(req, s.input.to, s.plan.reject.reason);
    }

    if (failedLocal.length && delivered === 0 && remote.size === 0) {
      const quota = failedLocal.every((f) => f.error === 'over-quota');
      throw quota ? new SmtpError(452, '4.2.2', 'Mailbox full') : new SmtpError(451, '4.3.0', 'Local delivery failed, try again later');
    }

    let id: string | null = null;
    let queued = 0;
    const enqueue = async (from: string, recipients: OutboundRecipient[], blob: StagedBlob): Promise<void> => {
      const qid = await ctx.outbound.enqueue({
        from,
        recipients,
        ...(tx.ret ? { ret: tx.ret } : {}),
        ...(tx.envid !== undefined ? { envid: tx.envid } : {}),
        smtputf8: tx.smtputf8,
        body: tx.body,
        requireTls: tx.requireTls,
        blob,
        ...(req.submittedBy ? { submittedBy: req.submittedBy } : {}),
        clientIp: req.clientIp,
      });
      id ??= qid;
      queued += recipients.length;
      // The queue keeps its own durable copy (Outbound.enqueue resolves once it is written);
      // the staged temporary file is ours to release.
      await ctx.store.blobs.discard(blob);
    };
    const writeBlob = async (head: Buffer[]): Promise<StagedBlob> => {
      const w = ctx.store.blobs.createWriter({ memory: true });
      writers.push(w);
      const [blob] = await copyInto([w], head, message, message.header.length);
      staged.push(blob!);
      return blob!;
    };

    if (req.forwarding && remote.size) await forward(req, remote, common, enqueue, writeBlob);
    const outbound: OutboundRecipient[] = req.forwarding ? [] : [...remote.entries()].map(([address, r]) => outboundRecipient(address, r));
    // Local recipients that failed after others succeeded (over quota): the queue retries them
    // and bounces when it gives up, so nothing acknowledged is lost.
    for (const f of failedLocal) outbound.push(outboundRecipient(f.address, f.rcpt));
    if (outbound.length) {
      queueBlob ??= await writeBlob([common]);
      await enqueue(tx.from, outbound, queueBlob);
      queueBlob = null;
    } else if (queueBlob) {
      await ctx.store.blobs.discard(queueBlob);
    }
    const replyId = id ?? tx.id;
    await successReport(req, replyId, deliveredLocal);
    req.log.info({ msgId: tx.id, queueId: replyId, from: tx.from, delivered, queued, size: message.size, verdict: verdict.action }, 'message accepted');
    ctx.metrics?.messageReceived(req.sendable ? 'submission' : 'smtp');
    return { id: replyId, delivered, queued };
  } catch (err) {
    await Promise.all(writers.map((w) => w.abort().catch(() => undefined)));
    throw err;
  } finally {
    await releaseMessage(message);
  }
}

const oneLineReason = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 400) || 'Message rejected';

/** Runs each local account's active Sieve script (only those that have one); the raw message is read once. */
async function planSieve(
  req: DeliveryRequest,
  verdict: CheckVerdict,
  local: Map<number, { address: string; rcpt: Recipient }>,
  returnPath: Buffer,
  common: Buffer,
): Promise<Map<number, { plan: SievePlan; input: Parameters<typeof runUserSieve>[0] }>> {
  const { ctx, tx, message } = req;
  const out = new Map<number, { plan: SievePlan; input: Parameters<typeof runUserSieve>[0] }>();
  let raw: Buffer | null = null;
  for (const [accountId, { address, rcpt }] of local) {
    if (!(await ctx.store.sieve.getActiveScript(accountId))) continue;
    const account = tx.recipients.flatMap((r) => r.accounts).find((a) => a.id === accountId);
    if (!account) continue;
    raw ??= Buffer.concat([returnPath, common, (await messageBytes(message)).subarray(message.header.length)]);
    const input = {
      ctx,
      account,
      from: tx.from,
      to: rcpt.address,
      raw,
      keepMailbox: mailboxFor(verdict, address, tx.recipients.filter((r) => r.accounts.some((a) => a.id === accountId))),
      spamScore: verdict.score ?? null,
      log: req.log,
    };
    const plan = await runUserSieve(input);
    if (plan) out.set(accountId, { plan, input });
  }
  return out;
}

/** RFC 5429 §2.1: a reject that could not be given at the SMTP level becomes a DSN to the sender. */
async function rejectNotice(req: DeliveryRequest, recipient: string, reason: string): Promise<void> {
  const { ctx, tx } = req;
  // RFC 3461 §6.2: never a DSN to the null sender.
  if (tx.from === '') return;
  const now = ctx.now();
  const dsn = composeDsn({
    hostname: ctx.config.hostname,
    to: tx.from,
    queueId: tx.id,
    envid: tx.envid ?? null,
    arrivalDate: now,
    now,
    recipients: [{ address: recipient, action: 'failed', status: '5.7.1', diagnostic: `550 5.7.1 ${oneLineReason(reason)}` }],
    original: req.message.header,
    ret: 'HDRS',
  });
  const staged = await ctx.store.blobs.stage(dsn.bytes);
  try {
    await ctx.outbound.enqueue({ from: '', recipients: [{ address: tx.from, notify: ['NEVER'] }], blob: staged, smtputf8: dsn.needsUtf8, body: '8BITMIME', requireTls: false });
  } finally {
    await ctx.store.blobs.discard(staged);
  }
}

/**
 * Copies forwarded by an alias to remote addresses (inbound): the envelope sender is rewritten
 * with SRS (the null sender stays null) so SPF passes for our domain at the next hop, and each
 * copy is ARC-sealed (RFC 8617) by the alias's domain. Targets whose seals are the same share
 * one queue message. A reversed SRS bounce is sent on unsealed.
 */
async function forward(
  req: DeliveryRequest,
  remote: Map<string, Recipient>,
  common: Buffer,
  enqueue: (from: string, recipients: OutboundRecipient[], blob: StagedBlob) => Promise<void>,
  writeBlob: (head: Buffer[]) => Promise<StagedBlob>,
): Promise<void> {
  const { ctx, tx, message } = req;
  const from = srsFor(ctx.config).forward(tx.from, ctx.now());
  const seals = new Map<string, Promise<string>>();
  const sealFor = (r: Recipient): Promise<string> => {
    if (r.srsBounce) return Promise.resolve('');
    const domain = r.address.slice(r.address.lastIndexOf('@') + 1).toLowerCase();
    let seal = seals.get(domain);
    if (!seal) {
      seal = arcSeal({ config: ctx.config, domain, head: common, message, offset: message.header.length, now: ctx.now() }).catch((err: unknown) => {
        // Forwarding unsealed beats not forwarding: the seal only helps the next hop's judgement.
        req.log.warn({ err: err instanceof Error ? err.message : String(err), domain, msgId: tx.id }, 'ARC seal failed; forwarding unsealed');
        return '';
      });
      seals.set(domain, seal);
    }
    return seal;
  };
  const groups = new Map<string, OutboundRecipient[]>();
  for (const [address, r] of remote) {
    const seal = await sealFor(r);
    const list = groups.get(seal) ?? [];
    list.push(outboundRecipient(address, r));
    groups.set(seal, list);
  }
  for (const [seal, recipients] of groups) {
    const blob = await writeBlob(seal ? [Buffer.from(seal, 'latin1'), common] : [common]);
    await enqueue(from, recipients, blob);
  }
  req.log.info({ msgId: tx.id, from: tx.from, srs: from, forwarded: remote.size }, 'forwarded with SRS');
}

/**
 * RFC 3461 §5.2.2: final delivery to a recipient that asked for NOTIFY=SUCCESS gets a
 * "delivered" DSN (headers only, RFC 3461 §4.3), sent from <> through the queue. The message is
 * already delivered: a failure here is logged, never turned into a refusal.
 */
async function successReport(req: DeliveryRequest, queueId: string, delivered: Array<{ address: string; rcpt: Recipient }>): Promise<void> {
  const { ctx, tx } = req;
  // RFC 3461 §6.2: never a DSN for a message from the null sender.
  if (tx.from === '') return;
  const reports: DsnRecipientReport[] = [];
  const seen = new Set<Recipient>();
  for (const d of delivered) {
    if (seen.has(d.rcpt) || !wantsNotify(d.rcpt, 'SUCCESS')) continue;
    seen.add(d.rcpt);
    reports.push({ address: d.rcpt.address, ...(d.rcpt.orcpt ? { orcpt: d.rcpt.orcpt } : {}), action: 'delivered', status: '2.0.0' });
  }
  if (!reports.length) return;
  try {
    const now = ctx.now();
    const dsn = composeDsn({ hostname: ctx.config.hostname, to: tx.from, queueId, envid: tx.envid ?? null, arrivalDate: now, now, recipients: reports, original: req.message.header, ret: 'HDRS' });
    const staged = await ctx.store.blobs.stage(dsn.bytes);
    try {
      await ctx.outbound.enqueue({ from: '', recipients: [{ address: tx.from, notify: ['NEVER'] }], blob: staged, smtputf8: dsn.needsUtf8, body: '8BITMIME', requireTls: false });
    } finally {
      await ctx.store.blobs.discard(staged);
    }
  } catch (err) {
    req.log.error({ err, msgId: tx.id }, 'could not queue the success DSN');
  }
}
