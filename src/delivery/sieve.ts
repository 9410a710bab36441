// Sieve at delivery (RFC 5228 §2.10, docs/managesieve.md): runs a local recipient's active script
// once per message and turns its actions into what delivery does: where copies are stored (with
// flags), whether the message is refused, which copies are redirected (through the queue, with
// an SRS envelope sender), and the vacation reply (RFC 5230, RFC 3834). The interpreter decides
// (src/sieve); this module remembers (vacation, duplicate, redirects per day) and acts.
//
// Run-time errors keep the message in INBOX (RFC 5228 §2.10.6), are logged, and leave one note in
// the user's INBOX per script version.
import { createHash, randomBytes } from 'node:crypto';
import type { ServerContext } from '../context.js';
import type { Logger } from '../log/logger.js';
import { formatRfc5322Date } from '../message/date.js';
import { headerBytesToString, headerValue, parseHeaderFields } from '../message/headers.js';
import { headerSection } from '../queue/dsn.js';
import { compileSieve, runSieve, type SieveAction, type SieveEnv } from '../sieve/index.js';
import { checkEntryName } from '../store/metadata.js';
import type { Account, DeliveryResult, DeliveryTarget, Store } from '../store/types.js';
import { arcSeal, srsFor } from '../smtp/server/forward.js';

/** The header that marks a message redirected by a user's script (loop detection). */
export const REDIRECT_HEADER = 'X-Yubin-Sieve-Redirected';

type Ctx = Pick<ServerContext, 'config' | 'store' | 'outbound' | 'logger' | 'now'>;

export interface SieveRunInput {
  ctx: Ctx;
  account: Pick<Account, 'id' | 'address'>;
  /** Envelope sender ("" for <>). */
  from: string;
  /** The recipient address that led to this account (envelope). */
  to: string;
  /** The message as it will be stored (Return-Path and Received included). */
  raw: Buffer;
  /** Where implicit and explicit keep go: INBOX, or Junk when the checks decided so. */
  keepMailbox: string;
  /** Spam score 0..10 from the checks, or null. */
  spamScore: number | null;
  log: Logger;
}

export interface StoreCopy {
  mailbox: string;
  flags: string[];
  /** The edited message (editheader), or null for the message as received. */
  raw: Buffer | null;
}

export interface SievePlan {
  copies: StoreCopy[];
  reject: { reason: string; ereject: boolean } | null;
  redirects: string[];
  vacation: Extract<SieveAction, { type: 'vacation' }> | null;
  /** The message redirects carry (edited when the script edited it). */
  raw: Buffer;
}

const LIMITS = (ctx: Ctx) => ({ maxScriptBytes: ctx.config.sieve.max_script_size, maxRedirects: ctx.config.sieve.max_redirects });

/** The plan when the script cannot run: the message is kept (RFC 5228 §2.10.6). */
const keepOnly = (raw: Buffer, mailbox: string): SievePlan => ({ copies: [{ mailbox, flags: [], raw: null }], reject: null, redirects: [], vacation: null, raw });

/** Runs the account's active script; null when it has none (delivery goes on as without Sieve). */
export async function runUserSieve(input: SieveRunInput): Promise<SievePlan | null> {
  const { ctx, account, log } = input;
  const script = await ctx.store.sieve.getActiveScript(account.id);
  if (!script) return null;
  const version = createHash('sha256').update(script.text).digest('hex').slice(0, 16);
  const failed = async (errors: string[]): Promise<SievePlan> => {
    log.warn({ user: account.address, script: script.name, errors }, 'sieve script failed; message kept in INBOX');
    await noteError(input, script.name, version, errors);
    return keepOnly(input.raw, 'INBOX');
  };
  const compiled = compileSieve(script.text, { name: script.name, limits: LIMITS(ctx) });
  if (!compiled.ok) return failed(compiled.errors.map((e) => `${e.line}:${e.column}: ${e.message}`));
  const now = ctx.now();
  const userAddresses = (await ctx.store.sendableAddresses(account.id)).filter((a) => !a.startsWith('@'));
  const env: SieveEnv = {
    user: account.address,
    userAddresses,
    spam: input.spamScore === null ? null : { score: Math.max(0, Math.min(10, Math.round(input.spamScore))), percent: Math.max(0, Math.min(100, Math.round(input.spamScore * 10))) },
    virus: null,
    separator: '+',
    mailboxExists: async (name) => (await ctx.store.getMailbox(account.id, name)) !== null,
    // RFC 5490 §3.3-3.4, §4: the account's IMAP METADATA entries (RFC 5464), private and shared
    metadata: async (mailbox, entry) => {
      let name: string;
      try {
        name = checkEntryName(entry, false, (m) => {
          throw new Error(m);
        });
      } catch {
        return null;
      }
      const box = mailbox === null ? null : await ctx.store.getMailbox(account.id, mailbox);
      if (mailbox !== null && !box) return null;
      const [found] = await ctx.store.metadata.getMetadata(account.id, box ? box.id : null, [name], 0);
      return found ? found.value.toString('utf8') : null;
    },
    loadInclude: async (name, location) => (location === 'global' ? await ctx.store.sieve.getGlobalScript(name) : await ctx.store.sieve.getScript(account.id, name))?.text ?? null,
    duplicate: (id, seconds) => ctx.store.sieve.duplicateSeen(account.id, id, now, new Date(now.getTime() + seconds * 1000)),
    // the environment extension's items: domain, host, location, phase, name, version
    environment: { domain: ctx.config.hostname.split('.').slice(1).join('.') || ctx.config.hostname, host: ctx.config.hostname, location: 'MDA', phase: 'during', name: 'Yubin', version: '1' },
    now,
  };
  let result;
  try {
    result = await runSieve(compiled.script, { raw: input.raw, envelope: { from: input.from, to: input.to, originalTo: input.to } }, env, { limits: LIMITS(ctx) });
  } catch (err) {
    return failed([err instanceof Error ? err.message : String(err)]);
  }
  if (result.errors.length) return failed(result.errors);
  const raw = result.editedRaw ?? input.raw;
  const plan: SievePlan = { copies: [], reject: null, redirects: [], vacation: null, raw };
  const edited = result.editedRaw;
  for (const a of result.actions) {
    switch (a.type) {
      case 'keep':
        plan.copies.push({ mailbox: input.keepMailbox, flags: a.flags ?? [], raw: edited });
        break;
      case 'fileinto': {
        let mailbox = a.mailbox;
        if (!(await ctx.store.getMailbox(account.id, mailbox))) {
          if (a.create) {
            // fileinto :create (the mailbox extension) makes the mailbox when it does not exist
            try {
              await ctx.store.createMailbox(account.id, mailbox);
            } catch (err) {
              log.warn({ user: account.address, mailbox, err: err instanceof Error ? err.message : String(err) }, 'sieve fileinto :create failed; kept in INBOX');
              mailbox = 'INBOX';
            }
          } else {
            log.info({ user: account.address, mailbox }, 'sieve fileinto a missing mailbox; kept in INBOX');
            mailbox = 'INBOX';
          }
        }
        plan.copies.push({ mailbox, flags: a.flags ?? [], raw: edited });
        break;
      }
      case 'discard':
        break;
      case 'reject':
        plan.reject = { reason: a.reason, ereject: a.ereject };
        break;
      case 'redirect':
        plan.redirects.push(a.address);
        break;
      case 'vacation':
        plan.vacation = a;
        break;
    }
  }
  plan.redirects = await allowedRedirects(input, plan.redirects);
  if (plan.redirects.length === 0 && result.actions.some((a) => a.type === 'redirect' && !a.copy) && plan.copies.length === 0) {
    // Every redirect was refused (loop, limits): the message is kept rather than lost.
    plan.copies.push({ mailbox: input.keepMailbox, flags: [], raw: edited });
  }
  return plan;
}

/** Redirects within the per-message and per-day limits and not looping back; the rest is dropped (and logged). */
async function allowedRedirects(input: SieveRunInput, wanted: string[]): Promise<string[]> {
  if (!wanted.length) return [];
  const { ctx, account, log } = input;
  const fields = parseHeaderFields(headerBytesToString(headerSection(input.raw)).text);
  // Loop detection: a message this account already redirected once is not redirected again.
  const marks = fields.filter((f) => f.key === REDIRECT_HEADER.toLowerCase()).map((f) => f.value.trim().toLowerCase());
  if (marks.includes(account.address)) {
    log.warn({ user: account.address }, 'sieve redirect loop: the message was already redirected by this account; kept');
    return [];
  }
  const unique = [...new Set(wanted.map((a) => a.toLowerCase()))].filter((a) => a !== account.address);
  const max = ctx.config.sieve.max_redirects;
  // The same message is redirected to the same address once: a delivery the queue retries (a
  // mailbox over quota) runs the script again, and must not send the copy again each time.
  const now = ctx.now();
  const digest = createHash('sha256').update(input.raw).digest('hex').slice(0, 32);
  const until = new Date(now.getTime() + ctx.config.queue.give_up_after + 86_400_000);
  const fresh: string[] = [];
  for (const a of unique.slice(0, max)) {
    if (await ctx.store.sieve.duplicateSeen(account.id, `yubin-redirect:${digest}:${a}`, now, until)) log.info({ user: account.address, to: a }, 'sieve redirect of this message already sent; not again');
    else fresh.push(a);
  }
  const list = fresh;
  if (unique.length > max) log.warn({ user: account.address, dropped: unique.length - max }, 'sieve redirects over max_redirects dropped');
  if (!list.length) return [];
  const day = now.toISOString().slice(0, 10);
  if (!(await ctx.store.sieve.reserveRedirects(account.id, day, list.length, ctx.config.sieve.max_redirects_per_day))) {
    log.warn({ user: account.address, day }, 'sieve redirects per day exhausted; kept instead');
    return [];
  }
  return list;
}

/**
 * Stores a plan's copies for one account: those of the message as received go into `blob` in one
 * store call, each edited one (editheader) is staged and stored on its own. One result per copy.
 */
export async function storePlanCopies(store: Store, accountId: number, plan: SievePlan, blob: Parameters<Store['deliver']>[0]): Promise<DeliveryResult[]> {
  const plain: DeliveryTarget[] = plan.copies.filter((c) => !c.raw).map((c) => ({ accountId, mailbox: c.mailbox, flags: c.flags }));
  const results = plain.length ? await store.deliver(blob, plain) : [];
  for (const c of plan.copies) {
    if (!c.raw) continue;
    const edited = await store.blobs.stage(c.raw);
    try {
      results.push(...(await store.deliver(edited, [{ accountId, mailbox: c.mailbox, flags: c.flags }])));
    } finally {
      await store.blobs.discard(edited);
    }
  }
  return results;
}

/** Strips the Return-Path field we added for local delivery (a redirected copy is not final delivery). */
function withoutReturnPath(raw: Buffer): Buffer {
  const m = /^Return-Path:[^\n]*\n/i.exec(raw.subarray(0, 1024).toString('latin1'));
  return m ? raw.subarray(m[0].length) : raw;
}

/**
 * Queues the redirects (SRS envelope sender, the loop-marking header in front) and the vacation
 * reply. Durable when it resolves (Outbound.enqueue).
 */
export async function sendSieveMail(input: SieveRunInput, plan: SievePlan): Promise<void> {
  const { ctx, account, log } = input;
  if (plan.redirects.length) {
    // RFC 5228 §4.2: the message is sent on unchanged but for trace fields; SRS keeps SPF passing
    // at the next hop (as alias forwarding does, src/smtp/server/forward.ts).
    // The copy is ARC-sealed (RFC 8617) by the user's domain, as alias forwarding seals its copies.
    const from = srsFor(ctx.config).forward(input.from, ctx.now());
    const bytes = Buffer.concat([Buffer.from(`${REDIRECT_HEADER}: ${account.address}\r\n`, 'latin1'), withoutReturnPath(plan.raw)]);
    const domain = account.address.slice(account.address.lastIndexOf('@') + 1);
    const seal = await arcSeal({ config: ctx.config, domain, raw: bytes, now: ctx.now() }).catch((err: unknown) => {
      // Forwarding unsealed beats not forwarding: the seal only helps the next hop's judgement.
      log.warn({ err: err instanceof Error ? err.message : String(err), domain }, 'ARC seal failed; redirecting unsealed');
      return '';
    });
    const staged = await ctx.store.blobs.stage(seal ? Buffer.concat([Buffer.from(seal, 'latin1'), bytes]) : bytes);
    try {
      await ctx.outbound.enqueue({ from, recipients: plan.redirects.map((address) => ({ address })), blob: staged, smtputf8: /[^\x00-\x7f]/.test(plan.redirects.join('')), body: '8BITMIME', requireTls: false });
    } finally {
      await ctx.store.blobs.discard(staged);
    }
    log.info({ user: account.address, sealed: seal !== '', to: plan.redirects, srs: from }, 'sieve redirect queued');
  }
  if (plan.vacation) await sendVacation(input, plan.vacation, plan.raw);
}

/** RFC 5230 §4.5, RFC 3834 §2: never answer these senders. */
export function isNoReplySender(sender: string): boolean {
  if (sender === '') return true;
  const local = sender.slice(0, sender.lastIndexOf('@')).toLowerCase();
  return local.startsWith('owner-') || local.endsWith('-request') || local === 'mailer-daemon' || local === 'listserv' || local === 'majordomo';
}

/** One line of a header field value (no CR/LF), for the reply. */
const oneLine = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 900);

/** RFC 2047 encoded-word when a header value is not ASCII. */
function headerText(s: string): string {
  const t = oneLine(s);
  return /^[\x20-\x7e]*$/.test(t) ? t : `=?UTF-8?B?${Buffer.from(t, 'utf8').toString('base64')}?=`;
}

async function sendVacation(input: SieveRunInput, v: Extract<SieveAction, { type: 'vacation' }>, raw: Buffer): Promise<void> {
  const { ctx, account, log } = input;
  if (isNoReplySender(input.from) || isNoReplySender(v.to)) return;
  const now = ctx.now();
  // RFC 5230 §4.2: one reply per sender and handle within the period, remembered durably.
  if (!(await ctx.store.sieve.vacationReserve(account.id, v.to, v.handle, now, new Date(now.getTime() + v.seconds * 1000)))) {
    log.info({ user: account.address, to: v.to }, 'vacation: already answered in this period');
    return;
  }
  const fields = parseHeaderFields(headerBytesToString(headerSection(raw)).text);
  const msgId = headerValue(fields, 'message-id')?.trim() ?? null;
  const refs = headerValue(fields, 'references')?.trim() ?? '';
  const domain = account.address.slice(account.address.lastIndexOf('@') + 1);
  const head = [
    `From: ${oneLine(v.from ?? account.address)}`,
    `To: <${v.to}>`,
    `Subject: ${headerText(v.subject)}`,
    `Date: ${formatRfc5322Date(now)}`,
    `Message-ID: <${randomBytes(12).toString('hex')}.vacation@${domain}>`,
    // RFC 3834 §3.1.3, §5: the reply is marked as automatic and refers to the message it answers
    'Auto-Submitted: auto-replied (vacation)',
    ...(msgId ? [`In-Reply-To: ${oneLine(msgId)}`, `References: ${oneLine(refs ? `${refs} ${msgId}` : msgId)}`] : []),
    'MIME-Version: 1.0',
  ];
  // RFC 5230 §4.3: with :mime the reason is a MIME entity (its own Content-* header fields)
  const body = v.mime
    ? v.body.replace(/\r?\n/g, '\r\n')
    : `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${v.body.replace(/\r?\n/g, '\r\n')}`;
  const bytes = Buffer.from(head.join('\r\n') + '\r\n' + body + (body.endsWith('\r\n') ? '' : '\r\n'), 'utf8');
  const staged = await ctx.store.blobs.stage(bytes);
  try {
    // RFC 3834 §3.3: an automatic response goes from the null reverse-path, so nothing answers it.
    await ctx.outbound.enqueue({ from: '', recipients: [{ address: v.to, notify: ['NEVER'] }], blob: staged, smtputf8: /[^\x00-\x7f]/.test(v.to), body: '8BITMIME', requireTls: false });
  } finally {
    await ctx.store.blobs.discard(staged);
  }
  log.info({ user: account.address, to: v.to }, 'vacation reply queued');
}

/** A note in the user's INBOX, once per script version, saying that the script failed. */
async function noteError(input: SieveRunInput, name: string, version: string, errors: string[]): Promise<void> {
  const { ctx, account, log } = input;
  const now = ctx.now();
  try {
    const first = !(await ctx.store.sieve.duplicateSeen(account.id, `yubin-sieve-error:${name}:${version}`, now, new Date(now.getTime() + 10 * 365 * 86_400_000)));
    if (!first) return;
    const text =
      `From: Mail Delivery <postmaster@${ctx.config.hostname}>\r\nTo: <${account.address}>\r\nSubject: Your Sieve filter "${oneLine(name)}" failed\r\n` +
      `Date: ${formatRfc5322Date(now)}\r\nMessage-ID: <${randomBytes(12).toString('hex')}.sieve@${ctx.config.hostname}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\nYour Sieve script "${name}" failed while filtering a message; the message was kept in INBOX.\r\n` +
      `This note is sent once per version of the script.\r\n\r\n${errors.map(oneLine).join('\r\n')}\r\n`;
    const staged = await ctx.store.blobs.stage(Buffer.from(text, 'utf8'));
    try {
      await ctx.store.deliver(staged, [{ accountId: account.id, mailbox: 'INBOX' }]);
    } finally {
      await ctx.store.blobs.discard(staged);
    }
  } catch (err) {
    log.error({ err, user: account.address }, 'could not leave the sieve error note');
  }
}
