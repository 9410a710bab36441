// The spam score: the authentication results and a few header and connection rules add up to
// one number, reported in X-Spam-Score and X-Spam-Status. At or above the threshold (the
// recipient's own, else [checks] spam_threshold) the message goes to the recipient's Junk.
// Users' Junk verdicts (moving a message into or out of Junk) are logged for a later classifier.
import type { AuthOutcome } from './spf-dkim-dmarc.js';
import type { ChecksDb } from './db.js';
import type { Store } from '../store/types.js';

export interface SpamRule {
  name: string;
  score: number;
}

export interface ScoreInput {
  auth: AuthOutcome | null;
  helo: string;
  ptr?: string | null;
  /** Null sender <> (bounces): no SPF MAIL FROM domain. */
  mailFrom: string;
  /** Our own host name: a client from outside that claims it in EHLO is lying. */
  hostname?: string;
}

/** The rules and their weights (docs/checks.md lists them). */
export const RULES = {
  SPF_FAIL: 3,
  SPF_SOFTFAIL: 1.5,
  SPF_NEUTRAL: 0.5,
  SPF_NONE: 0.5,
  SPF_PERMERROR: 1,
  SPF_HELO_FAIL: 1,
  DKIM_INVALID: 1.5,
  DKIM_NONE: 0.5,
  DKIM_VALID_ALIGNED: -0.5,
  DMARC_FAIL: 3,
  DMARC_PASS: -1,
  ARC_FAIL: 0.5,
  NO_FROM: 3,
  MULTIPLE_FROM: 2,
  NO_DATE: 1,
  NO_MESSAGE_ID: 1,
  NO_PTR: 1,
  HELO_NOT_FQDN: 1,
  HELO_IS_OURS: 3,
} as const satisfies Record<string, number>;

export type RuleName = keyof typeof RULES;

export function scoreMessage(input: ScoreInput): { score: number; rules: SpamRule[] } {
  const hits: RuleName[] = [];
  const a = input.auth;
  if (a) {
    const spfRule: Partial<Record<string, RuleName>> = { fail: 'SPF_FAIL', softfail: 'SPF_SOFTFAIL', neutral: 'SPF_NEUTRAL', none: 'SPF_NONE', permerror: 'SPF_PERMERROR' };
    const r = spfRule[a.spf.result];
    if (r) hits.push(r);
    if (a.spfHelo?.result === 'fail') hits.push('SPF_HELO_FAIL');
    const sigs = a.dkim.filter((d) => d.result !== 'none');
    if (!sigs.length) hits.push('DKIM_NONE');
    else if (!sigs.some((d) => d.result === 'pass')) hits.push('DKIM_INVALID');
    else if (sigs.some((d) => d.result === 'pass' && d.aligned)) hits.push('DKIM_VALID_ALIGNED');
    if (a.dmarc?.result === 'fail') hits.push('DMARC_FAIL');
    if (a.dmarc?.result === 'pass') hits.push('DMARC_PASS');
    if (a.arc?.result === 'fail') hits.push('ARC_FAIL');
    const count = (name: string): number => a.headerNames.filter((h) => h === name).length;
    // RFC 5322 §3.6: Date and From are required, exactly once; Message-ID should be present.
    const froms = count('from');
    if (froms === 0) hits.push('NO_FROM');
    else if (froms > 1) hits.push('MULTIPLE_FROM');
    if (count('date') === 0) hits.push('NO_DATE');
    if (count('message-id') === 0) hits.push('NO_MESSAGE_ID');
  }
  if (input.ptr === null) hits.push('NO_PTR');
  // RFC 5321 §4.1.1.1: the EHLO argument is the client's fully qualified domain name (or an address literal).
  const helo = input.helo.trim();
  if (!/^\[.*\]$/.test(helo) && !/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\.?$/.test(helo)) hits.push('HELO_NOT_FQDN');
  if (input.hostname && helo.toLowerCase().replace(/\.$/, '') === input.hostname.toLowerCase()) hits.push('HELO_IS_OURS');
  const rules = hits.map((name) => ({ name, score: RULES[name] }));
  const score = Math.round(rules.reduce((s, r) => s + r.score, 0) * 10) / 10;
  return { score, rules };
}

/** X-Spam-Score and X-Spam-Status (the SpamAssassin form most clients and filters know). */
export function spamHeaders(score: number, threshold: number, rules: SpamRule[]): string[] {
  const tests = rules.map((r) => r.name).join(',') || 'none';
  return [`X-Spam-Score: ${score.toFixed(1)}`, `X-Spam-Status: ${score >= threshold ? 'Yes' : 'No'}, score=${score.toFixed(1)} required=${threshold.toFixed(1)} tests=${tests}`];
}

export type Verdict = 'spam' | 'ham';

export interface VerdictEntry {
  account: string;
  blobId: string;
  verdict: Verdict;
  at: Date;
}

type Awaitable<T> = T | Promise<T>;

/**
 * Per-user thresholds and the Junk verdict log: in data_dir/checks.sqlite (createSpamPrefs, whose
 * answers are immediate) or in the shared PostgreSQL database (src/checks/state/spam.ts, whose
 * answers are promises). Callers await every answer.
 */
export interface SpamPrefs {
  /** The user's own threshold, or null for the server default. */
  getThreshold(address: string): Awaitable<number | null>;
  /** Sets (or with null, clears) the user's threshold. */
  setThreshold(address: string, threshold: number | null): Awaitable<void>;
  /** The threshold that applies to a recipient. */
  thresholdFor(address: string, defaultThreshold: number): Awaitable<number>;
  /** Remembers the user's verdict on a message (moved into Junk: spam; out of Junk: ham). */
  recordVerdict(account: string, blobId: string, verdict: Verdict, at?: Date): Awaitable<void>;
  listVerdicts(account: string, limit?: number): Awaitable<VerdictEntry[]>;
}

/** The SQLite kind: every answer immediate. */
export interface SyncSpamPrefs extends SpamPrefs {
  getThreshold(address: string): number | null;
  setThreshold(address: string, threshold: number | null): void;
  thresholdFor(address: string, defaultThreshold: number): number;
  recordVerdict(account: string, blobId: string, verdict: Verdict, at?: Date): void;
  listVerdicts(account: string, limit?: number): VerdictEntry[];
}

export function createSpamPrefs(db: ChecksDb): SyncSpamPrefs {
  const get = db.prepare<[string], { threshold: number }>('SELECT threshold FROM spam_threshold WHERE address = ?');
  const set = db.prepare('INSERT INTO spam_threshold (address, threshold) VALUES (?, ?) ON CONFLICT (address) DO UPDATE SET threshold = excluded.threshold');
  const del = db.prepare('DELETE FROM spam_threshold WHERE address = ?');
  const ins = db.prepare('INSERT INTO verdicts (account, blob_id, verdict, at) VALUES (?, ?, ?, ?)');
  const list = db.prepare<[string, number], { account: string; blob_id: string; verdict: Verdict; at: number }>(
    'SELECT account, blob_id, verdict, at FROM verdicts WHERE account = ? ORDER BY id DESC LIMIT ?',
  );
  const getThreshold = (address: string): number | null => get.get(address.toLowerCase())?.threshold ?? null;
  return {
    getThreshold,
    setThreshold(address, threshold) {
      if (threshold === null) del.run(address.toLowerCase());
      else set.run(address.toLowerCase(), threshold);
    },
    thresholdFor(address, def) {
      return getThreshold(address) ?? def;
    },
    recordVerdict(account, blobId, verdict, at = new Date()) {
      ins.run(account.toLowerCase(), blobId, verdict, at.getTime());
    },
    listVerdicts(account, limit = 100) {
      return list.all(account.toLowerCase(), limit).map((r) => ({ account: r.account, blobId: r.blob_id, verdict: r.verdict, at: new Date(r.at) }));
    },
  };
}

/**
 * What a move between mailboxes says about the user's opinion: into Junk is "spam", out of
 * Junk (to anything but Trash) is "ham", anything else says nothing. For the IMAP MOVE/COPY code.
 */
export function verdictForMove(from: string | null, to: string | null): Verdict | null {
  if (to === '\\Junk' && from !== '\\Junk') return 'spam';
  if (from === '\\Junk' && to !== '\\Junk' && to !== '\\Trash') return 'ham';
  return null;
}

/**
 * For IMAP COPY/MOVE (and APPEND into Junk): records the user's verdict on each message when it
 * moves into or out of the Junk mailbox (special-use \Junk, RFC 6154). Called after the copy or
 * move with the messages' UIDs in the destination (the copies share the originals' blob id), so
 * it works the same for MOVE, whose source messages are gone by then. A verdict that cannot be
 * written throws; the caller logs it.
 */
export async function recordMoveVerdicts(
  prefs: SpamPrefs,
  store: Pick<Store, 'getMailboxById' | 'getMessages'>,
  move: { account: string; srcMailboxId: number | null; dstMailboxId: number; dstUids: number[] },
): Promise<Verdict | null> {
  const src = move.srcMailboxId === null ? null : await store.getMailboxById(move.srcMailboxId);
  const dst = await store.getMailboxById(move.dstMailboxId);
  const verdict = verdictForMove(src?.specialUse ?? null, dst?.specialUse ?? null);
  if (!verdict || !move.dstUids.length) return verdict;
  const metas = await store.getMessages(move.dstMailboxId, move.dstUids);
  const at = new Date();
  for (const m of metas) await prefs.recordVerdict(move.account, m.blobId, verdict, at);
  return verdict;
}
