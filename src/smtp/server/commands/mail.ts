// MAIL FROM (RFC 5321 §4.1.1.2) with SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
// (RFC 6531), RET/ENVID (RFC 3461), AUTH (RFC 4954 §5) and REQUIRETLS (RFC 8689).
import { SmtpError } from '../errors.js';
import { parseEnvid, parsePathArgs, decodeXtext, type ParsedPath } from '../../wire/command.js';
import type { BodyType, SessionApi, SmtpCommand, Transaction } from '../state.js';
import { enforceVerdict } from '../verdict.js';

export interface MailArgs {
  path: ParsedPath;
  size: number | null;
  body: BodyType;
  smtputf8: boolean;
  requireTls: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
}

export function parseMail(args: string, s: SessionApi): MailArgs {
  const { path, params } = parsePathArgs(args, 'mail');
  // RFC 5321 §4.1.1.2: parameters only after EHLO.
  if (params.size && !s.esmtp) throw new SmtpError(555, '5.5.4', 'Parameters not recognized (send EHLO, not HELO)');
  const out: MailArgs = { path, size: null, body: '7BIT', smtputf8: false, requireTls: false };
  for (const [key, value] of params) {
    switch (key) {
      case 'SIZE':
        // RFC 1870 §3: SIZE=1*20DIGIT
        if (!value || !/^\d{1,20}$/.test(value)) throw new SmtpError(501, '5.5.4', 'Bad SIZE value');
        out.size = Number(value);
        break;
      case 'BODY': {
        const v = (value ?? '').toUpperCase();
        if (v !== '7BIT' && v !== '8BITMIME' && v !== 'BINARYMIME') throw new SmtpError(501, '5.5.4', 'Bad BODY value');
        out.body = v;
        break;
      }
      case 'SMTPUTF8':
        if (value !== null) throw new SmtpError(501, '5.5.4', 'SMTPUTF8 takes no value');
        out.smtputf8 = true;
        break;
      case 'RET': {
        const v = (value ?? '').toUpperCase();
        if (v !== 'FULL' && v !== 'HDRS') throw new SmtpError(501, '5.5.4', 'Bad RET value');
        out.ret = v;
        break;
      }
      case 'ENVID':
        out.envid = parseEnvid(value);
        break;
      case 'AUTH':
        // RFC 4954 §5: AUTH=<> or an xtext mailbox; accepted, validated, not trusted.
        if (value !== '<>') decodeXtext(value ?? '');
        break;
      case 'REQUIRETLS':
        if (value !== null) throw new SmtpError(501, '5.5.4', 'REQUIRETLS takes no value');
        // RFC 8689 §4.1: only over TLS (it is not offered otherwise).
        if (!s.transport.tls) throw new SmtpError(530, '5.7.10', 'REQUIRETLS needs a TLS session');
        out.requireTls = true;
        break;
      default:
        // RFC 5321 §4.1.1.11: 555 for parameters we do not know.
        throw new SmtpError(555, '5.5.4', `Parameter ${key} not recognized`);
    }
  }
  // RFC 6531 §3.4: a non-ASCII address needs SMTPUTF8.
  if (path.utf8 && !out.smtputf8) throw new SmtpError(553, '5.6.7', 'Non-ASCII address needs SMTPUTF8');
  return out;
}

/** The addresses (lower case) the authenticated user may send as, looked up once per transaction. */
const sendableByTx = new WeakMap<Transaction, Set<string>>();

async function sendableOf(s: SessionApi): Promise<Set<string>> {
  return new Set((await s.ctx.store.sendableAddresses(s.authenticated!.id)).map((x) => x.toLowerCase()));
}

/**
 * The authenticated user's sendable addresses for the current transaction: those MAIL looked up
 * (checked against the envelope sender a moment before), else looked up now (a null sender).
 */
export async function transactionSendable(s: SessionApi): Promise<Set<string>> {
  const known = s.tx ? sendableByTx.get(s.tx) : undefined;
  return known ?? sendableOf(s);
}

export const mail: SmtpCommand<MailArgs> = {
  name: 'MAIL',
  states: ['ready'],
  wrongState: (st) => (st === 'init' ? 'Send EHLO or HELO first' : 'Nested MAIL command'),
  // RFC 1870 §3, RFC 3461 §4, RFC 4954 §5: extensions lengthen the MAIL line.
  maxLength: 1024,
  parse: parseMail,
  async run(s, a) {
    const cfg = s.ctx.config.smtp;
    let own: Set<string> | null = null;
    if (s.isSubmission) {
      // RFC 6409 §4.3: submission needs authentication.
      if (!s.authenticated) throw new SmtpError(530, '5.7.0', 'Authentication required');
      if (a.path.address !== '') {
        own = await sendableOf(s);
        if (!own.has(a.path.address.toLowerCase())) throw new SmtpError(553, '5.7.1', 'Sender address is not one of your addresses');
      }
    }
    // RFC 1870 §6.1: a declared size over the limit is refused at MAIL.
    if (a.size !== null && cfg.max_message_size > 0 && a.size > cfg.max_message_size) throw new SmtpError(552, '5.3.4', 'Message size exceeds fixed maximum message size');
    // Every listener: on submission (authenticated) the checks apply only the per-user rate limit.
    const v = await s.ctx.checks.mailFrom({ ...s.transactionInfo(), mailFrom: a.path.address });
    enforceVerdict(v, { reject: 550, tempfail: 451, text: 'Sender refused' });
    s.tx = {
      id: s.newId(),
      from: a.path.address,
      size: a.size,
      body: a.body,
      smtputf8: a.smtputf8,
      requireTls: a.requireTls,
      ...(a.ret ? { ret: a.ret } : {}),
      ...(a.envid !== undefined ? { envid: a.envid } : {}),
      recipients: [],
      intake: null,
    };
    if (own) sendableByTx.set(s.tx, own);
    s.state = 'mail';
    s.reply(250, '2.1.0', 'Ok');
  },
};
