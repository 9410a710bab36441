// Greylisting: the first delivery attempt of an unknown (client network, sender, recipient)
// triplet is deferred with 451 4.7.1; a real MTA retries (RFC 5321 §4.5.4.1) and the retry after
// the delay passes. A triplet that passed, and a sender domain that passed from that network, are
// known for greylist_expire and pass at once.
import type { ChecksDb } from './db.js';
import { networkKey } from './ip.js';

export interface GreylistOptions {
  delayMs: number;
  retryWindowMs: number;
  expireMs: number;
}

export type GreylistDecision = { pass: true; reason: 'known-triplet' | 'known-sender' | 'retried' } | { pass: false; retryInMs: number };

export interface Greylist {
  check(ip: string, sender: string, rcpt: string, now: number): GreylistDecision;
  /** Deletes entries that can no longer matter; returns how many. */
  sweep(now: number): number;
}

function senderDomain(sender: string): string {
  const at = sender.lastIndexOf('@');
  return at >= 0 ? sender.slice(at + 1).toLowerCase() : '';
}

export function createGreylist(db: ChecksDb, opts: GreylistOptions): Greylist {
  const getTriplet = db.prepare<[string, string, string], { first_seen: number; last_seen: number; passed_at: number | null }>(
    'SELECT first_seen, last_seen, passed_at FROM greylist WHERE net = ? AND sender = ? AND rcpt = ?',
  );
  const getKnown = db.prepare<[string, string], { last_seen: number }>('SELECT last_seen FROM greylist_known WHERE net = ? AND sender_domain = ?');
  const upsertTriplet = db.prepare(
    `INSERT INTO greylist (net, sender, rcpt, first_seen, last_seen, passed_at) VALUES (@net, @sender, @rcpt, @now, @now, @passed)
     ON CONFLICT (net, sender, rcpt) DO UPDATE SET first_seen = @first, last_seen = @now, passed_at = @passed`,
  );
  const upsertKnown = db.prepare(
    `INSERT INTO greylist_known (net, sender_domain, last_seen) VALUES (?, ?, ?)
     ON CONFLICT (net, sender_domain) DO UPDATE SET last_seen = excluded.last_seen`,
  );
  const sweepTriplets = db.prepare('DELETE FROM greylist WHERE (passed_at IS NULL AND first_seen < ?) OR (passed_at IS NOT NULL AND last_seen < ?)');
  const sweepKnown = db.prepare('DELETE FROM greylist_known WHERE last_seen < ?');

  return {
    check(ip, sender, rcpt, now) {
      const net = networkKey(ip);
      const s = sender.toLowerCase();
      const r = rcpt.toLowerCase();
      const dom = senderDomain(s);
      const row = getTriplet.get(net, s, r);
      if (row?.passed_at != null && now - row.last_seen <= opts.expireMs) {
        upsertTriplet.run({ net, sender: s, rcpt: r, now, first: row.first_seen, passed: row.passed_at });
        if (dom) upsertKnown.run(net, dom, now);
        return { pass: true, reason: 'known-triplet' };
      }
      // A sender domain that already passed greylisting from this network is a known sender.
      const known = dom ? getKnown.get(net, dom) : undefined;
      if (known && now - known.last_seen <= opts.expireMs) {
        upsertTriplet.run({ net, sender: s, rcpt: r, now, first: row?.first_seen ?? now, passed: now });
        upsertKnown.run(net, dom, now);
        return { pass: true, reason: 'known-sender' };
      }
      if (row && row.passed_at == null && now - row.first_seen <= opts.retryWindowMs) {
        const waited = now - row.first_seen;
        if (waited >= opts.delayMs) {
          upsertTriplet.run({ net, sender: s, rcpt: r, now, first: row.first_seen, passed: now });
          if (dom) upsertKnown.run(net, dom, now);
          return { pass: true, reason: 'retried' };
        }
        upsertTriplet.run({ net, sender: s, rcpt: r, now, first: row.first_seen, passed: null });
        return { pass: false, retryInMs: opts.delayMs - waited };
      }
      // Unknown, expired, or a first attempt never retried in time: start over.
      upsertTriplet.run({ net, sender: s, rcpt: r, now, first: now, passed: null });
      return { pass: false, retryInMs: opts.delayMs };
    },
    sweep(now) {
      const a = sweepTriplets.run(now - opts.retryWindowMs, now - opts.expireMs).changes;
      const b = sweepKnown.run(now - opts.expireMs).changes;
      return a + b;
    },
  };
}
