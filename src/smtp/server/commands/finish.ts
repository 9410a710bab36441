// End of a message (DATA's final dot, BDAT LAST): refuse what is malformed, else hand it to
// delivery and reply 250 with the queue id only once everything is durable.
import { SmtpError } from '../errors.js';
import type { Intake } from '../intake.js';
import type { SessionApi } from '../state.js';
import { deliverMessage } from '../deliver.js';
import { receivedHeader } from '../headers.js';
import { transactionSendable } from './mail.js';

function refusal(s: SessionApi, intake: Intake): SmtpError | null {
  const f = intake.scanner.flags;
  const binary = s.tx!.body === 'BINARYMIME';
  // RFC 1870 §6.2 (and §6.1): too big, 552 at the end of data.
  if (intake.oversize) return new SmtpError(552, '5.3.4', 'Message size exceeds fixed maximum message size');
  // An abusive header structure (smtp.max_header_lines, smtp.max_header_field_lines), found while receiving.
  const abuse = intake.headerAbuse;
  if (abuse) return new SmtpError(552, '5.3.4', abuse);
  if (!binary) {
    // RFC 5321 §2.3.8: CR and LF only as CRLF. A bare one is refused, never turned into a line end
    // (SMTP smuggling, CVE-2023-51764).
    if (f.bareCr || f.bareLf) return new SmtpError(550, '5.6.0', 'Message contains a bare CR or LF; lines must end with CRLF');
    if (f.nul) return new SmtpError(550, '5.6.0', 'Message contains NUL octets');
    // RFC 5321 §4.5.3.1.6 allows 1000 octets with CRLF; we take up to smtp.max_line_length (and
    // re-encode such lines when relaying, src/message/reencode.ts).
    if (f.longLine) return new SmtpError(552, '5.3.4', `Message has a line longer than ${intake.maxLineLength} octets (the limit here)`);
  }
  if (intake.headerTooLarge) return new SmtpError(552, '5.3.4', 'Message header too large');
  return null;
}

export async function finishMessage(s: SessionApi, intake: Intake): Promise<void> {
  const tx = s.tx!;
  try {
    const bad = refusal(s, intake);
    if (bad) {
      s.log.info({ msgId: tx.id, reply: bad.code, reason: bad.text }, 'message refused');
      throw bad;
    }
    const message = await intake.finish();
    const tls = s.transport.tls;
    const received = receivedHeader({
      helo: s.helo,
      ptr: s.ptr,
      ip: s.transport.remoteAddress,
      hostname: s.ctx.config.hostname,
      esmtp: s.esmtp,
      tls: tls ? { protocol: tls.protocol, cipher: tls.cipher } : null,
      authenticated: s.authenticated !== null,
      smtputf8: tx.smtputf8,
      id: tx.id,
      recipient: tx.recipients.length === 1 ? tx.recipients[0]!.address : null,
      date: s.ctx.now(),
    });
    const account = s.authenticated;
    // looked up once per transaction, at MAIL (commands/mail.ts)
    const sendable = s.isSubmission && account ? await transactionSendable(s) : null;
    const outcome = await deliverMessage({
      ctx: s.ctx,
      tx,
      message,
      received,
      sendable,
      checkData: { ...s.transactionInfo(), expansions: tx.recipients.map((r) => ({ recipient: r.address, accounts: r.accounts.map((a) => a.address) })) },
      forwarding: s.transport.listener === 'smtp' && !account,
      ...(account ? { submittedBy: account.address } : {}),
      clientIp: s.transport.remoteAddress,
      log: s.log,
    });
    s.reply(250, '2.0.0', `Ok: queued as ${outcome.id}`);
  } finally {
    await intake.abort();
    await s.resetTransaction();
  }
}
