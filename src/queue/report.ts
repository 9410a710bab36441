// Turning final recipient states into DSNs (failure, success when asked, delay warnings) and
// enqueueing them, from <> to the original envelope sender. Used by the scheduler and the CLI.
import type { QueueBackend, QueuedMessage, QueuedRecipient } from './queue.js';
import { composeDsn, wantsNotify, headerSection, type DsnRecipientReport } from './dsn.js';

export interface ReportOptions {
  hostname: string;
  now: Date;
  /** For delay warnings: when the queue gives up. */
  giveUpAfter: number;
}

function report(r: QueuedRecipient, action: DsnRecipientReport['action'], extra: Partial<DsnRecipientReport> = {}): DsnRecipientReport {
  return {
    address: r.address,
    orcpt: r.orcpt,
    action,
    status: r.lastStatus ?? (action === 'failed' ? '5.0.0' : action === 'delayed' ? '4.0.0' : '2.0.0'),
    remoteMta: r.remoteMta,
    diagnostic: r.lastReply,
    lastAttempt: r.lastAttempt ? new Date(r.lastAttempt) : null,
    ...extra,
  };
}

async function sendDsn(queue: QueueBackend, msg: QueuedMessage, reports: DsnRecipientReport[], opts: ReportOptions, headersOnly: boolean): Promise<string> {
  const original = !headersOnly && msg.ret === 'FULL' ? await queue.readMessage(msg.id) : headerSection(await readHead(queue, msg.id));
  const dsn = composeDsn({
    hostname: opts.hostname,
    to: msg.from,
    queueId: msg.id,
    envid: msg.envid,
    arrivalDate: new Date(msg.createdAt),
    now: opts.now,
    recipients: reports,
    original,
    ret: headersOnly ? 'HDRS' : msg.ret,
  });
  // RFC 5321 §4.5.5: a DSN is sent with the null reverse-path, so it never causes another
  return queue.enqueueBytes(
    dsn.bytes,
    { from: '', recipients: [{ address: msg.from }], size: dsn.bytes.length, needsUtf8: dsn.needsUtf8, headerFromDomain: opts.hostname },
    opts.now.getTime(),
  );
}

/** The first 256 KiB of a message: enough for its header section. */
async function readHead(queue: QueueBackend, id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of queue.openMessage(id, { start: 0, end: 256 * 1024 })) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/**
 * The DSN action owed for a recipient's final state, or null when none is: never for mail from
 * <> (RFC 5321 §4.5.5); a failure when NOTIFY asks for FAILURE (the default); a success only
 * when NOTIFY has SUCCESS and we are the one to report it (RFC 3461 §5.2.2: whoever delivers, or
 * relays to a server without DSN).
 */
export function dsnOwed(from: string, r: { state: QueuedRecipient['state']; dsnAction?: QueuedRecipient['dsnAction'] } & Pick<QueuedRecipient, 'notify'>): DsnRecipientReport['action'] | null {
  if (from === '') return null;
  if (r.state === 'bounced' && wantsNotify(r, 'FAILURE')) return 'failed';
  if (r.state === 'delivered' && r.dsnAction && wantsNotify(r, 'SUCCESS')) return r.dsnAction;
  return null;
}

/**
 * Sends the DSN owed for every final, unreported recipient of the message (one DSN for all of
 * them) and marks them reported. Returns the DSN's queue id, or null when none was owed.
 */
export async function reportFinal(queue: QueueBackend, id: string, opts: ReportOptions): Promise<string | null> {
  const msg = await queue.get(id);
  if (!msg) return null;
  const finals = msg.recipients.filter((r) => (r.state === 'delivered' || r.state === 'bounced') && !r.reported);
  if (!finals.length) {
    if (await queue.isDone(id)) await queue.markReported(id, []); // finished earlier, removal cut short
    return null;
  }
  const reports: DsnRecipientReport[] = [];
  for (const r of finals) {
    const action = dsnOwed(msg.from, r);
    if (action) reports.push(report(r, action));
  }
  let dsnId: string | null = null;
  if (reports.length) dsnId = await sendDsn(queue, msg, reports, opts, !reports.some((r) => r.action === 'failed'));
  await queue.markReported(id, finals.map((r) => r.idx));
  return dsnId;
}

/** Sends a delay warning for deferred recipients not yet warned (NOTIFY=DELAY or default). */
export async function reportDelay(queue: QueueBackend, id: string, opts: ReportOptions): Promise<string | null> {
  const msg = await queue.get(id);
  if (!msg || msg.from === '') return null;
  const pending = msg.recipients.filter((r) => r.state === 'deferred' && !r.delayWarned);
  if (!pending.length) return null;
  const wanted = pending.filter((r) => wantsNotify(r, 'DELAY'));
  let dsnId: string | null = null;
  if (wanted.length) {
    const until = new Date(msg.createdAt + opts.giveUpAfter);
    dsnId = await sendDsn(
      queue,
      msg,
      wanted.map((r) => report(r, 'delayed', { willRetryUntil: until })),
      opts,
      true,
    );
  }
  await queue.markDelayWarned(id, pending.map((r) => r.idx));
  return dsnId;
}
