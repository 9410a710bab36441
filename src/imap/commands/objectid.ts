// Object identifiers (RFC 8474 OBJECTID), save dates (RFC 8514 SAVEDATE) and message previews
// (RFC 8970 PREVIEW): the values the FETCH items and SEARCH keys of these extensions read.
//
// No id is stored: each is a function of something the store already keeps for good.
// - MAILBOXID: the mailbox's UIDVALIDITY, which the store hands out once per mailbox incarnation
//   from one counter (globally unique, never reused) and keeps across RENAME; renaming INBOX makes
//   a new mailbox (a new UIDVALIDITY) and INBOX keeps its own (RFC 8474 §4.2).
// - EMAILID: the message's blob, the SHA-256 of its bytes. The same for every copy and after a
//   MOVE (RFC 8474 §5.1: MOVE MUST keep it, COPY SHOULD; identical messages MAY share one).
// - THREADID: the first message-id of the message's References (else In-Reply-To, else its own
//   Message-ID), hashed: a reply that lists its thread's root first shares the root's THREADID, and
//   the value never changes as other messages come and go (RFC 8474 §5.2: immutable).
import { createHash } from 'node:crypto';
import type { MessageStructure, MimePart } from '../../message/types.js';
import type { MessageMeta, Store } from '../../store/types.js';
import { decodeCharset } from '../../message/headers.js';
import { decodeTransfer } from '../../message/sections.js';
import { messageIds, referencesHeader, referencesOf } from '../thread.js';

/** RFC 8474 §7: objectid = 1*255(ALPHA / DIGIT / "_" / "-"). */
export const OBJECTID = /^[A-Za-z0-9_-]{1,255}$/;

/** RFC 8474 §4: the MAILBOXID of a mailbox incarnation. */
export function mailboxObjectId(uidValidity: number): string {
  return `M${uidValidity}`;
}

/** RFC 8474 §5.1: the EMAILID of a message (its content address, 128 bits of it). */
export function emailObjectId(meta: Pick<MessageMeta, 'blobId'>): string {
  return `E${meta.blobId.slice(0, 32)}`;
}

/** RFC 8474 §5.2: the THREADID from the message's own header (References read from the blob). */
export async function threadObjectId(store: Store, meta: MessageMeta, st: MessageStructure): Promise<string> {
  const refs = referencesOf(await referencesHeader(store, meta, st), st.envelope.inReplyTo);
  const root = refs[0] ?? messageIds(st.envelope.messageId)[0];
  // Without any message-id the message is a thread of its own, named by its content.
  if (root === undefined) return `T${meta.blobId.slice(0, 24)}`;
  return `T${createHash('sha256').update(root).digest('hex').slice(0, 24)}`;
}

/** RFC 8970 §3: at most 256 characters. */
export const PREVIEW_MAX = 256;
/** Octets of a text part read to make a preview (enough for 256 characters after whitespace and markup go). */
const PREVIEW_READ = 16 * 1024;

/** The text part a preview is made from: the first text/plain leaf, else the first text/html one (not attachments). */
function previewPart(root: MimePart): MimePart | null {
  let html: MimePart | null = null;
  const stack: MimePart[] = [root];
  while (stack.length) {
    const p = stack.shift()!;
    if (p.children) {
      stack.unshift(...p.children);
      continue;
    }
    // an enclosed message is an attachment, not this message's text
    if (p.type !== 'text' || p.disposition?.type.toLowerCase() === 'attachment') continue;
    if (p.subtype === 'plain') return p;
    if (p.subtype === 'html' && !html) html = p;
  }
  return html;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head|title)\b[^>]*>[\s\S]*?(<\/\1\s*>|$)/gi, ' ')
    .replace(/<!--[\s\S]*?(-->|$)/g, ' ')
    .replace(/<[^>]*>?/g, ' ')
    .replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi, (m, e: string) => {
      if (e[0] === '#') {
        const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
        return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : ' ';
      }
      return ENTITIES[e.toLowerCase()] ?? m;
    });
}

/**
 * RFC 8970 §3: the preview of a message: its text with whitespace runs (line ends included)
 * made one space and control characters dropped, trimmed, at most 256 characters (code points;
 * a surrogate pair is never split). "" when the message has no text part.
 */
export async function makePreview(st: MessageStructure, read: (start: number, end: number) => Promise<Uint8Array>): Promise<string> {
  const part = previewPart(st.root);
  if (!part) return '';
  const raw = Buffer.from(await read(part.bodyStart, Math.min(part.bodyEnd, part.bodyStart + PREVIEW_READ)));
  const decoded = decodeTransfer(part.encoding, raw) ?? raw;
  let text = decodeCharset(decoded, part.params['charset'] ?? 'us-ascii');
  if (part.subtype === 'html') text = htmlToText(text);
  const normal = text
    .replace(/[\u0000-\u001f\u007f-\u009f\s]+/gu, ' ')
    .replace(/\uFFFD/g, '')
    .trim();
  const chars = Array.from(normal);
  return chars.length > PREVIEW_MAX ? chars.slice(0, PREVIEW_MAX).join('').trimEnd() : normal;
}

/**
 * The previews of these messages: kept ones from the store, the others made now and kept (once
 * per blob, so never again for any copy). With `lazy` (RFC 8970 §3.2 PREVIEW (LAZY)) a preview
 * not made yet is null: the client asks again without LAZY when it wants it.
 */
export async function previewsOf(
  store: Store,
  metas: readonly MessageMeta[],
  structure: (meta: MessageMeta) => Promise<MessageStructure | null>,
  lazy: boolean,
): Promise<Map<string, string | null>> {
  const kept = await store.getPreviews(metas.map((m) => m.blobId));
  const out = new Map<string, string | null>(kept);
  for (const meta of metas) {
    if (out.has(meta.blobId)) continue;
    if (lazy) {
      out.set(meta.blobId, null);
      continue;
    }
    const st = await structure(meta);
    if (!st) continue;
    const preview = await makePreview(st, (start, end) => store.blobs.read(meta.blobId, { start, end }));
    await store.setPreview(meta.blobId, preview);
    out.set(meta.blobId, preview);
  }
  return out;
}
