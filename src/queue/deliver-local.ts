// Local delivery agent: queue recipients in local domains go straight into the Store, never
// over the network. Aliases that expand to remote addresses become new queue recipients.
// postmaster@ and abuse@ of every local domain resolve as in SMTP (store/recipients.ts).
//
// Each account's active Sieve script runs here exactly as at SMTP delivery, through the same
// code (src/delivery/sieve.ts): redirects to local users, vacation replies to them, alias
// expansions queued for them, retries of deliveries that failed (over quota), and bounces
// (RFC 5228 makes no exception for them; vacation never answers <>, RFC 3834 §2).
import type { Store, DeliveryTarget, DeliveryResult, StagedBlob, Account } from '../store/types.js';
import type { QueueBackend, QueuedMessage, QueuedRecipient, RecipientResult } from './queue.js';
import type { ServerContext } from '../context.js';
import { returnPathHeader } from '../smtp/server/headers.js';
import { resolveLocalRecipient } from '../store/recipients.js';
import { runUserSieve, sendSieveMail, storePlanCopies, type SievePlan, type SieveRunInput } from '../delivery/sieve.js';

export type LocalResult = { idx: number } & RecipientResult;

/** What Sieve needs beyond the store: the queue itself (redirects, vacation replies), config, log, clock. */
export type LocalSieveContext = Pick<ServerContext, 'config' | 'outbound' | 'logger' | 'now'>;

/** The message as stored (Return-Path in front), read once for the scripts. */
async function readRaw(queue: QueueBackend, msg: QueuedMessage): Promise<Buffer> {
  const chunks: Buffer[] = [Buffer.from(returnPathHeader(msg.from), 'utf8')];
  for await (const chunk of queue.openMessage(msg.id)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One-line text for a reply from a reject reason. */
const replyText = (s: string) => s.replace(/[\r\n]+/g, ' ').slice(0, 400) || 'Message rejected';

/**
 * Copies the queued message into a staged blob of the store (streamed, fsynced by the writer).
 * RFC 5321 §4.4: the final delivery adds Return-Path with the envelope sender ("<>" for bounces).
 */
async function stage(store: Store, queue: QueueBackend, msg: QueuedMessage): Promise<StagedBlob> {
  const writer = store.blobs.createWriter();
  try {
    await writer.write(Buffer.from(returnPathHeader(msg.from), 'utf8'));
    for await (const chunk of queue.openMessage(msg.id)) await writer.write(chunk as Buffer);
    return await writer.finish();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

export async function deliverLocal(store: Store, queue: QueueBackend, msg: QueuedMessage, rcpts: QueuedRecipient[], now: number, sieve?: LocalSieveContext): Promise<LocalResult[]> {
  const results: LocalResult[] = [];
  const targets: DeliveryTarget[] = [];
  const owners: number[][] = []; // per target: the recipient idxs it serves
  const byAccount = new Map<number, number>();
  const accounts: Array<{ account: Account; to: string }> = []; // per target
  const forwards: Array<{ address: string; notify?: QueuedRecipient['notify']; orcpt?: QueuedRecipient['orcpt'] }> = [];
  const forwardedBy: Array<{ idx: number; to: string[] }> = [];

  for (const r of rcpts) {
    // The one resolution every path shares (store/recipients.ts): accounts, aliases, postmaster@/abuse@, catch-all.
    const resolved = await resolveLocalRecipient(store, r.address);
    if (resolved.kind === 'unknown') {
      // RFC 3463 §3.2: X.1.1, the mailbox does not exist
      results.push({ idx: r.idx, state: 'bounced', reply: `550 5.1.1 <${r.address}>: no such user here`, status: '5.1.1' });
      continue;
    }
    if (resolved.kind === 'unstaffed') {
      // RFC 5321 §4.5.1: postmaster (and abuse, RFC 2142 §4) must work; nobody can take it yet is
      // our configuration (RFC 3463 §3.4 X.3.5), temporary: retried until the give-up time.
      results.push({ idx: r.idx, state: 'deferred', reply: `451 4.3.5 <${r.address}>: no mailbox yet`, status: '4.3.5' });
      continue;
    }
    for (const a of resolved.accounts) {
      let t = byAccount.get(a.id);
      if (t === undefined) {
        t = targets.length;
        byAccount.set(a.id, t);
        targets.push({ accountId: a.id });
        owners.push([]);
        accounts.push({ account: a, to: r.address });
      }
      owners[t]!.push(r.idx);
    }
    if (resolved.remote.length) {
      // RFC 3461 §4.2: the original recipient travels on as ORCPT
      const orcpt = r.orcpt ?? { type: 'rfc822', address: r.address };
      for (const to of resolved.remote) forwards.push({ address: to, notify: r.notify, orcpt });
      forwardedBy.push({ idx: r.idx, to: resolved.remote });
    }
  }

  // Sieve: each account with an active script gets its plan; the others get the plain INBOX copy.
  const plans = new Map<number, { plan: SievePlan; input: SieveRunInput }>(); // by target index
  if (sieve && targets.length) {
    let raw: Buffer | null = null;
    for (const [i, { account, to }] of accounts.entries()) {
      if (!(await store.sieve.getActiveScript(account.id))) continue;
      raw ??= await readRaw(queue, msg);
      const input: SieveRunInput = { ctx: { ...sieve, store }, account, from: msg.from, to, raw, keepMailbox: 'INBOX', spamScore: null, log: sieve.logger };
      const plan = await runUserSieve(input);
      if (plan) plans.set(i, { plan, input });
    }
    // Redirects and vacation replies are queued first: when storing fails and the queue retries,
    // the script runs again, and neither is sent twice (the same message is redirected to the
    // same address once; vacation remembers whom it answered).
    for (const { plan, input } of plans.values()) await sendSieveMail(input, plan);
  }

  const outcome = new Map<number, { ok: boolean; over: boolean; message: string }>();
  const rejected = new Map<number, string>(); // recipient idx -> reason, when every account it reaches rejected
  const note = (i: number, d: DeliveryResult) => {
    for (const idx of owners[i]!) {
      const prev = outcome.get(idx) ?? { ok: true, over: false, message: '' };
      if (!d.ok) {
        prev.ok = false;
        if (d.error === 'over-quota') prev.over = true;
        prev.message = d.message;
      }
      outcome.set(idx, prev);
    }
  };
  if (targets.length) {
    const staged = await stage(store, queue, msg);
    try {
      const plain = targets.filter((_, i) => !plans.has(i));
      const plainIdx = targets.map((_, i) => i).filter((i) => !plans.has(i));
      if (plain.length) (await store.deliver(staged, plain)).forEach((d, k) => note(plainIdx[k]!, d));
      for (const [i, { plan }] of plans) {
        // discard, redirect, reject: nothing stored, the recipient is handled
        for (const idx of owners[i]!) if (!outcome.has(idx)) outcome.set(idx, { ok: true, over: false, message: '' });
        for (const d of await storePlanCopies(store, targets[i]!.accountId, plan, staged)) note(i, d);
      }
    } finally {
      await store.blobs.discard(staged);
    }
    // RFC 5429 §2.1: the message was accepted already, so a reject becomes a non-delivery report:
    // the recipient bounces (the queue's DSN carries the reason; none to <>, RFC 3461 §6.2).
    for (const r of rcpts) {
      const reached = targets.map((_, i) => i).filter((i) => owners[i]!.includes(r.idx));
      const reasons = reached.map((i) => plans.get(i)?.plan.reject?.reason);
      if (reached.length && reasons.every((x) => x !== undefined) && !forwardedBy.some((f) => f.idx === r.idx)) rejected.set(r.idx, reasons[0]!);
    }
  }
  if (forwards.length) await queue.addRecipients(msg.id, forwards, now);

  for (const r of rcpts) {
    if (results.some((x) => x.idx === r.idx)) continue;
    const reason = rejected.get(r.idx);
    if (reason !== undefined) {
      results.push({ idx: r.idx, state: 'bounced', reply: `550 5.7.1 <${r.address}>: ${replyText(reason)}`, status: '5.7.1' });
      continue;
    }
    const o = outcome.get(r.idx);
    const fw = forwardedBy.find((f) => f.idx === r.idx);
    if (o && !o.ok) {
      // RFC 3463 §3.3: X.2.2, mailbox full, is temporary: retried until the give-up time
      if (o.over) results.push({ idx: r.idx, state: 'deferred', reply: `452 4.2.2 <${r.address}>: mailbox full`, status: '4.2.2' });
      else results.push({ idx: r.idx, state: 'bounced', reply: `550 5.1.1 <${r.address}>: ${o.message}`, status: '5.1.1' });
      continue;
    }
    if (fw && !o) {
      results.push({ idx: r.idx, state: 'delivered', reply: `250 2.1.5 forwarded to ${fw.to.join(', ')}`, status: '2.1.5', dsnAction: 'expanded' });
      continue;
    }
    results.push({ idx: r.idx, state: 'delivered', reply: '250 2.0.0 delivered to mailbox', status: '2.0.0', dsnAction: 'delivered' });
  }
  return results;
}
