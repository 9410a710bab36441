// What the SQL backends (sqlite/, postgres/) share: the rows of the accounts, mailboxes and
// messages tables as the drivers return them, and their conversion to the Store's types.
import { StoreError, SPECIAL_USES as SPECIAL_USE_LIST, type Account, type Mailbox, type MessageMeta, type SpecialUse } from './types.js';
import { formatFlags } from './validate.js';

export interface AccountRow {
  id: number;
  address: string;
  domain: string;
  password_hash: string;
  quota: number;
  usage: number;
  created_at: number;
}

export interface MailboxRow {
  id: number;
  account_id: number;
  name: string;
  uid_validity: number;
  uid_next: number;
  highest_modseq: number;
  special_use: string | null;
  subscribed: number;
  recent_uid: number;
  message_count: number;
  unseen_count: number;
  deleted_count: number;
  total_size: number;
}

export interface MessageRow {
  mailbox_id: number;
  uid: number;
  modseq: number;
  sys_flags: number;
  keywords: string;
  internal_date: number;
  size: number;
  blob_id: string;
  /** A number from SQLite; PostgreSQL's int8 may arrive as a string. */
  saved_at: number | string | null;
}

/** A mailbox's STATUS counters (or a change of them). */
export interface Counts {
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
}

/** Rows per query when a result can be large. */
export const PAGE = 1000;
export const ACCOUNT_SELECT = 'SELECT a.id, a.address, d.name AS domain, a.password_hash, a.quota, a.usage, a.created_at FROM accounts a JOIN domains d ON d.id = a.domain_id';
export const SPECIAL_USES: ReadonlySet<string> = new Set(SPECIAL_USE_LIST);

/** Sorted, de-duplicated UIDs (safe integers only) in slices of PAGE. */
export function chunks(uids: readonly number[]): number[][] {
  const sorted = [...new Set(uids)].filter((u) => Number.isSafeInteger(u)).sort((a, b) => a - b);
  const out: number[][] = [];
  for (let i = 0; i < sorted.length; i += PAGE) out.push(sorted.slice(i, i + PAGE));
  return out;
}

export function checkQuota(quota: number): void {
  if (!Number.isSafeInteger(quota) || quota < 0) throw new StoreError('invalid', `invalid quota ${String(quota)} (bytes, 0 = unlimited)`);
}

export function toAccount(r: AccountRow): Account {
  return { id: r.id, address: r.address, domain: r.domain, passwordHash: r.password_hash, quota: r.quota, usage: r.usage, createdAt: new Date(r.created_at) };
}

export function toMailbox(r: MailboxRow): Mailbox {
  return {
    id: r.id,
    accountId: r.account_id,
    name: r.name,
    uidValidity: r.uid_validity,
    uidNext: r.uid_next,
    highestModSeq: r.highest_modseq,
    specialUse: r.special_use as SpecialUse | null,
    subscribed: r.subscribed === 1,
  };
}

const NO_KEYWORDS: readonly string[] = Object.freeze([]);

/**
 * The columns of MessageRow in a fixed order, for queries read as arrays (better-sqlite3's raw
 * mode): building an object per row costs a property store per column, which was the largest
 * main-thread cost of a FETCH of 1,000 bodies.
 */
export const MESSAGE_COLUMNS = 'mailbox_id, uid, modseq, sys_flags, keywords, internal_date, size, blob_id, saved_at';
export type MessageRowArray = [number, number, number, number, string, number, number, string, number | string | null];

export function toMetaFromArray(r: MessageRowArray): MessageMeta {
  return {
    mailboxId: r[0],
    uid: r[1],
    modseq: r[2],
    flags: formatFlags(r[3], r[4] === '[]' ? NO_KEYWORDS : (JSON.parse(r[4]) as string[])),
    internalDate: new Date(r[5]),
    size: r[6],
    blobId: r[7],
    savedDate: r[8] === null ? null : new Date(Number(r[8])),
  };
}

export function toMeta(r: MessageRow): MessageMeta {
  return toMetaFromArray([r.mailbox_id, r.uid, r.modseq, r.sys_flags, r.keywords, r.internal_date, r.size, r.blob_id, r.saved_at]);
}
