// Local delivery agent: queue recipients in local domains go straight into the Store, never
// over the network. Aliases that expand to remote addresses become new queue recipients.
// postmaster@ and abuse@ of every local domain resolve as in SMTP (store/recipients.ts).
import type { Store, DeliveryTarget, StagedBlob } from '../store/types.js';
import type { QueueStore, QueuedMessage, QueuedRecipient, RecipientResult } from './queue.js';
import { returnPathHeader } from '../smtp/server/headers.js';
import { resolveLocalRecipient } from '../store/recipients.js';

export type LocalResult = { idx: number } & RecipientResult;

/**
 * Copies the queued message into a staged blob of the store (streamed, fsynced by the writer).
 * RFC 5321 §4.4: the final delivery adds Return-Path with the envelope sender ("<>" for bounces).
 */
async function stage(store: Store, queue: QueueStore, msg: QueuedMessage): Promise<StagedBlob> {
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

export async function deliverLocal(store: Store, queue: QueueStore, msg: QueuedMessage, rcpts: QueuedRecipient[], now: number): Promise<LocalResult[]> {
  const results: LocalResult[] = [];
  const targets: DeliveryTarget[] = [];
  const owners: number[][] = []; // per target: the recipient idxs it serves
  const byAccount = new Map<number, number>();
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

  const outcome = new Map<number, { ok: boolean; over: boolean; message: string }>();
  if (targets.length) {
    const staged = await stage(store, queue, msg);
    try {
      const res = await store.deliver(staged, targets);
      res.forEach((d, i) => {
        for (const idx of owners[i]!) {
          const prev = outcome.get(idx) ?? { ok: true, over: false, message: '' };
          if (!d.ok) {
            prev.ok = false;
            if (d.error === 'over-quota') prev.over = true;
            prev.message = d.message;
          }
          outcome.set(idx, prev);
        }
      });
    } finally {
      await store.blobs.discard(staged);
    }
  }
  if (forwards.length) queue.addRecipients(msg.id, forwards, now);

  for (const r of rcpts) {
    if (results.some((x) => x.idx === r.idx)) continue;
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
