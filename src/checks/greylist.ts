// Greylisting: the first delivery attempt of an unknown (client network, sender, recipient)
// triplet is deferred with 451 4.7.1; a real MTA retries (RFC 5321 §4.5.4.1) and the retry after
// the delay passes. A triplet that passed, and a sender domain that passed from that network, are
// known for greylist_expire and pass at once. The rows live where the store's state lives
// (GreylistRows): data_dir/checks.sqlite with SQLite, the shared database with PostgreSQL
// (src/checks/state/postgres.ts), so every node knows a triplet another node has seen.
import type { ChecksDb } from './db.js';
import { networkKey } from './ip.js';

export interface GreylistOptions {
  delayMs: number;
  retryWindowMs: number;
  expireMs: number;
}

export type GreylistDecision = { pass: true; reason: 'known-triplet' | 'known-sender' | 'retried' } | { pass: false; retryInMs: number };

export interface Greylist {
  check(ip: string, sender: string, rcpt: string, now: number): Promise<GreylistDecision>;
  /** Deletes entries that can no longer matter; returns how many. */
  sweep(now: number): Promise<number>;
}

export interface TripletRow {
  first_seen: number;
  last_seen: number;
  passed_at: number | null;
}

/** Where the triplets are kept (one implementation per storage backend). */
export interface GreylistRows {
  triplet(net: string, sender: string, rcpt: string): Promise<TripletRow | null>;
  knownSince(net: string, senderDomain: string): Promise<number | null>;
  putTriplet(net: string, sender: string, rcpt: string, row: TripletRow): Promise<void>;
  putKnown(net: string, senderDomain: string, now: number): Promise<void>;
  /** Deletes unpassed triplets first seen before `unpassedBefore`, passed ones last seen before `passedBefore`, known senders before `passedBefore`. */
  sweep(unpassedBefore: number, passedBefore: number): Promise<number>;
}

function senderDomain(sender: string): string {
  const at = sender.lastIndexOf('@');
  return at >= 0 ? sender.slice(at + 1).toLowerCase() : '';
}

/** The greylisting rules over any GreylistRows. */
export function greylistOver(rows: GreylistRows, opts: GreylistOptions): Greylist {
  return {
    async check(ip, sender, rcpt, now) {
      const net = networkKey(ip);
      const s = sender.toLowerCase();
      const r = rcpt.toLowerCase();
      const dom = senderDomain(s);
      const row = await rows.triplet(net, s, r);
      if (row?.passed_at != null && now - row.last_seen <= opts.expireMs) {
        await rows.putTriplet(net, s, r, { first_seen: row.first_seen, last_seen: now, passed_at: row.passed_at });
        if (dom) await rows.putKnown(net, dom, now);
        return { pass: true, reason: 'known-triplet' };
      }
      // A sender domain that already passed greylisting from this network is a known sender.
      const known = dom ? await rows.knownSince(net, dom) : null;
      if (known !== null && now - known <= opts.expireMs) {
        await rows.putTriplet(net, s, r, { first_seen: row?.first_seen ?? now, last_seen: now, passed_at: now });
        await rows.putKnown(net, dom, now);
        return { pass: true, reason: 'known-sender' };
      }
      if (row && row.passed_at == null && now - row.first_seen <= opts.retryWindowMs) {
        const waited = now - row.first_seen;
        if (waited >= opts.delayMs) {
          await rows.putTriplet(net, s, r, { first_seen: row.first_seen, last_seen: now, passed_at: now });
          if (dom) await rows.putKnown(net, dom, now);
          return { pass: true, reason: 'retried' };
        }
        await rows.putTriplet(net, s, r, { first_seen: row.first_seen, last_seen: now, passed_at: null });
        return { pass: false, retryInMs: opts.delayMs - waited };
      }
      // Unknown, expired, or a first attempt never retried in time: start over.
      await rows.putTriplet(net, s, r, { first_seen: now, last_seen: now, passed_at: null });
      return { pass: false, retryInMs: opts.delayMs };
    },
    sweep(now) {
      return rows.sweep(now - opts.retryWindowMs, now - opts.expireMs);
    },
  };
}

/** The triplets in data_dir/checks.sqlite (db.ts). */
export function sqliteGreylistRows(db: ChecksDb): GreylistRows {
  const getTriplet = db.prepare<[string, string, string], TripletRow>('SELECT first_seen, last_seen, passed_at FROM greylist WHERE net = ? AND sender = ? AND rcpt = ?');
  const getKnown = db.prepare<[string, string], { last_seen: number }>('SELECT last_seen FROM greylist_known WHERE net = ? AND sender_domain = ?');
  const upsertTriplet = db.prepare(
    `INSERT INTO greylist (net, sender, rcpt, first_seen, last_seen, passed_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (net, sender, rcpt) DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen, passed_at = excluded.passed_at`,
  );
  const upsertKnown = db.prepare(
    `INSERT INTO greylist_known (net, sender_domain, last_seen) VALUES (?, ?, ?)
     ON CONFLICT (net, sender_domain) DO UPDATE SET last_seen = excluded.last_seen`,
  );
  const sweepTriplets = db.prepare('DELETE FROM greylist WHERE (passed_at IS NULL AND first_seen < ?) OR (passed_at IS NOT NULL AND last_seen < ?)');
  const sweepKnown = db.prepare('DELETE FROM greylist_known WHERE last_seen < ?');
  return {
    triplet: async (net, s, r) => getTriplet.get(net, s, r) ?? null,
    knownSince: async (net, dom) => getKnown.get(net, dom)?.last_seen ?? null,
    putTriplet: async (net, s, r, row) => void upsertTriplet.run(net, s, r, row.first_seen, row.last_seen, row.passed_at),
    putKnown: async (net, dom, now) => void upsertKnown.run(net, dom, now),
    sweep: async (unpassedBefore, passedBefore) => sweepTriplets.run(unpassedBefore, passedBefore).changes + sweepKnown.run(passedBefore).changes,
  };
}

/** Greylisting on data_dir/checks.sqlite. */
export function createGreylist(db: ChecksDb, opts: GreylistOptions): Greylist {
  return greylistOver(sqliteGreylistRows(db), opts);
}
