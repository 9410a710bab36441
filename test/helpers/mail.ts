// Shared helpers for integration tests that send and read mail with real clients.
import nodemailer, { type SendMailOptions } from 'nodemailer';
import { ImapFlow } from 'imapflow';
import type { YubinInstance } from './server.js';
import { until as untilReady, type NotYet } from './until.js';

/**
 * Polls fn every 200 ms until it returns something truthy, for at most `ms`; an fn that throws
 * (a server not up yet) counts as not yet. The polls here are whole client sessions: not often.
 */
export function until<T>(what: string, fn: () => Promise<NotYet<T>>, ms = 30_000): Promise<T> {
  return untilReady(what, fn, { timeoutMs: ms, everyMs: 200, retryErrors: true });
}

/** Submits with nodemailer through the instance's submission listener (STARTTLS + AUTH). */
export async function submit(inst: YubinInstance, user: string, pass: string, mail: SendMailOptions) {
  const t = nodemailer.createTransport({
    host: inst.host('submission'),
    port: inst.port('submission'),
    secure: false,
    requireTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user, pass },
  });
  try {
    return await t.sendMail(mail);
  } finally {
    t.close();
  }
}

/** The raw messages of one of a user's mailboxes, read over IMAP with imapflow. */
export async function mailboxMessages(inst: YubinInstance, user: string, pass: string, name = 'INBOX'): Promise<string[]> {
  const c = new ImapFlow({ host: inst.host('imap'), port: inst.port('imap'), secure: false, auth: { user, pass }, logger: false, tls: { rejectUnauthorized: false } });
  await c.connect();
  try {
    const lock = await c.getMailboxLock(name);
    try {
      const out: string[] = [];
      if (c.mailbox && c.mailbox.exists > 0) for await (const m of c.fetch('1:*', { source: true })) out.push(m.source!.toString('utf8'));
      return out;
    } finally {
      lock.release();
    }
  } finally {
    await c.logout();
  }
}
