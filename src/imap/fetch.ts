// FETCH (RFC 9051 §6.4.5, §7.5.2; RFC 3501 §6.4.5 for the RFC822 items; RFC 3516 BINARY):
// parsing the data items and composing the responses from stored metadata, the structure kept
// at delivery and byte ranges of the blob.
import type { MessageStructure } from '../message/types.js';
import type { MessageMeta as Meta } from '../store/types.js';
import { formatBodyStructure, formatEnvelope } from '../message/imap-format.js';
import type { ImapConn } from './server/conn.js';
import { ImapError } from './server/errors.js';
import type { SelectedView } from './server/view.js';
import { metasFor, PAGE } from './server/messages.js';
import { mapLimit } from './server/parallel.js';
import { flagList, nstring } from './wire/compose.js';
import { announceKeywords } from './server/notify.js';
import type { Token } from './wire/tokenizer.js';
import { decodeTransfer, findPart, parseSection, resolveSection, type SectionSpec } from '../message/sections.js';
import { MONTHS } from '../message/date.js';
import type { Readable } from 'node:stream';
import { StoreError } from '../store/types.js';
import { emailObjectId, previewsOf, threadObjectId } from './commands/objectid.js';
import { indexAnswers, indexFetch } from './index/query.js';
import { fetchHead } from './commands/uidonly.js';

export type FetchItem =
  | { kind: 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ' }
  | { kind: 'RFC822' | 'RFC822.HEADER' | 'RFC822.TEXT' }
  | { kind: 'section'; binary: boolean; peek: boolean; spec: SectionSpec; partial: { start: number; length: number } | null }
  | { kind: 'BINARY.SIZE'; spec: SectionSpec }
  // RFC 8474 §7 (OBJECTID), RFC 8514 §5 (SAVEDATE), RFC 8970 §5 (PREVIEW ["(" "LAZY" ")"])
  | { kind: 'EMAILID' | 'THREADID' | 'SAVEDATE' }
  | { kind: 'PREVIEW'; lazy: boolean };

const SIMPLE = new Set(['UID', 'FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODYSTRUCTURE', 'BODY', 'RFC822', 'RFC822.HEADER', 'RFC822.TEXT']);

/** Responses larger than this are streamed from the blob instead of read into memory. */
const STREAM_ABOVE = 256 * 1024;
/** Messages worked on at once within a page (overlapping blob and structure reads). */
const IO_CONCURRENCY = 16;
/**
 * Messages composed (and their small ranges read in one step) before they are written: at most
 * BATCH messages and about BATCH_BYTES of message data, which bounds memory.
 */
const BATCH = 256;
const BATCH_BYTES = 1024 * 1024;

/** Parses the FETCH data items: a macro (only outside a list, RFC 9051 §9), one item or a list. Throws BAD. */
export function parseFetchItems(tokens: Token[], bad: (m: string) => never, macros = true): FetchItem[] {
  if (macros && tokens.length === 1 && tokens[0]!.t === 'atom') {
    const macro = tokens[0].v.toUpperCase();
    // RFC 9051 §6.4.5: macros
    if (macro === 'ALL') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'].map((k) => ({ kind: k }) as FetchItem);
    if (macro === 'FAST') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'].map((k) => ({ kind: k }) as FetchItem);
    if (macro === 'FULL') return ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'].map((k) => ({ kind: k }) as FetchItem);
  }
  const items: FetchItem[] = [];
  for (let ti = 0; ti < tokens.length; ti++) {
    const t = tokens[ti]!;
    if (t.t !== 'atom') bad('Invalid FETCH item');
    const v = t.v;
    const up = v.toUpperCase();
    if (up === 'EMAILID' || up === 'THREADID' || up === 'SAVEDATE') {
      items.push({ kind: up });
      continue;
    }
    if (up === 'PREVIEW') {
      // RFC 8970 §5: fetch-att =/ "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"]; preview-mod = "LAZY"
      const mods = tokens[ti + 1];
      let lazy = false;
      if (mods?.t === 'list') {
        ti++;
        if (!mods.items.length) bad('Empty PREVIEW modifier list');
        for (const m of mods.items) {
          if (m.t !== 'atom' || m.v.toUpperCase() !== 'LAZY' || lazy) bad('Unknown PREVIEW modifier');
          lazy = true;
        }
      }
      items.push({ kind: 'PREVIEW', lazy });
      continue;
    }
    if (SIMPLE.has(up)) {
      items.push({ kind: up } as FetchItem);
      continue;
    }
    if (up === 'MODSEQ') {
      // RFC 7162 §3.1.4.1
      items.push({ kind: 'MODSEQ' });
      continue;
    }
    const m = /^(BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)\[(.*)\](?:<(\d{1,10})\.(\d{1,10})>)?$/is.exec(v);
    if (!m) bad(`Unknown FETCH item ${v.slice(0, 40)}`);
    const name = m[1]!.toUpperCase();
    const binary = name.startsWith('BINARY');
    const spec = parseSection(m[2]!);
    if (!spec) bad('Invalid section');
    // RFC 3516 §4.2: BINARY takes a part number only
    if (binary && spec.text) bad('BINARY takes a part number only');
    if (name === 'BINARY.SIZE') {
      if (m[3] !== undefined) bad('BINARY.SIZE takes no partial');
      items.push({ kind: 'BINARY.SIZE', spec });
      continue;
    }
    const partial = m[3] !== undefined ? { start: Number(m[3]), length: Number(m[4]) } : null;
    // RFC 9051 §9: partial = "<" number64 "." nz-number64 ">"
    if (partial && partial.length === 0) bad('Partial length must be positive');
    items.push({ kind: 'section', binary, peek: name.endsWith('.PEEK'), spec, partial });
  }
  if (!items.length) bad('FETCH needs at least one item');
  return items;
}

/** BODY[] / BODY.PEEK[] (with or without a partial): the whole message, bytes 0 to its size. */
function wholeMessage(i: FetchItem): boolean {
  return i.kind === 'section' && !i.binary && i.spec.part.length === 0 && !i.spec.text;
}

function needsStructure(items: FetchItem[]): boolean {
  return items.some((i) => i.kind === 'THREADID' || i.kind === 'ENVELOPE' || i.kind === 'BODYSTRUCTURE' || i.kind === 'BODY' || (i.kind === 'section' && !wholeMessage(i)) || i.kind === 'BINARY.SIZE' || i.kind === 'RFC822.HEADER' || i.kind === 'RFC822.TEXT');
}

function setsSeen(items: FetchItem[]): boolean {
  // RFC 9051 §6.4.5: BODY[...] and BINARY[...] (not .PEEK) set \Seen; RFC 3501: RFC822 and RFC822.TEXT too
  return items.some((i) => (i.kind === 'section' && !i.peek) || i.kind === 'RFC822' || i.kind === 'RFC822.TEXT');
}

/** IMAP date-time (RFC 9051 §9): "dd-Mon-yyyy hh:mm:ss +zzzz", here in UTC. */
export function formatInternalDate(d: Date): string {
  const mon = MONTHS[d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${p(d.getUTCDate())}-${mon}-${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000"`;
}

/** A blob range; a large one carries its stream, opened before anything of its response is written. */
type Piece = string | Buffer | { blobId: string; start: number; end: number; stream?: Readable };

/** The message's bytes are gone: its blob was removed after another session expunged it. */
function blobGone(e: unknown): boolean {
  return (e instanceof StoreError && e.code === 'not-found') || (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT');
}

/** Opens a blob stream and waits until it can be read (or fails), so an ENOENT shows before the literal header is sent. */
function openReady(stream: Readable): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      stream.off('readable', onReadable);
      reject(e);
    };
    const onReadable = (): void => {
      stream.off('error', onError);
      resolve(stream);
    };
    stream.once('error', onError);
    stream.once('readable', onReadable);
  });
}

/**
 * Runs FETCH for the given UIDs (ascending); sends one untagged FETCH per message still present.
 * Returns whether some messages had been expunged meanwhile.
 */
export async function runFetch(
  conn: ImapConn,
  view: SelectedView,
  uids: number[],
  items: FetchItem[],
  uidCommand: boolean,
  opts: { changedSince?: number } = {},
): Promise<{ expunged: boolean }> {
  const store = conn.ctx.store;
  if (uidCommand && !items.some((i) => i.kind === 'UID')) items = [{ kind: 'UID' }, ...items];
  // RFC 7162 §3.1.4.1: CHANGEDSINCE implies MODSEQ; §3.1: once CONDSTORE is on, FETCH with FLAGS carries UID and MODSEQ
  const wantModseq = opts.changedSince !== undefined || (conn.condstore && items.some((i) => i.kind === 'FLAGS'));
  if (wantModseq && !items.some((i) => i.kind === 'MODSEQ')) items = [...items, { kind: 'MODSEQ' }];
  if (conn.condstore && !items.some((i) => i.kind === 'UID') && items.some((i) => i.kind === 'FLAGS' || i.kind === 'MODSEQ')) items = [{ kind: 'UID' }, ...items];
  const wantStructure = needsStructure(items);
  const seen = setsSeen(items) && !view.readOnly;
  const hasFlags = items.some((i) => i.kind === 'FLAGS');
  const metaOnly = items.every((i) => i.kind === 'UID' || i.kind === 'FLAGS' || i.kind === 'INTERNALDATE' || i.kind === 'RFC822.SIZE' || i.kind === 'MODSEQ');
  // UID/FLAGS/INTERNALDATE/RFC822.SIZE/MODSEQ come from the shared mailbox index (src/imap/index)
  if (metaOnly && view.index && indexAnswers(items)) return indexFetch(conn, view, view.index, uids, items, { changedSince: opts.changedSince, formatDate: formatInternalDate });
  let expunged = false;
  const writer = new ResponseWriter(conn);
  /**
   * Issue 13: the message's bytes are gone because another session expunged it after its metadata
   * was read (RFC 9051 §7.1 EXPUNGEISSUED): it is reported as expunged, never as a storage error
   * naming the blob. Anything else is a real error.
   */
  const goneMeanwhile = async (e: unknown, meta: Meta): Promise<boolean> => {
    if (!blobGone(e) || (await store.getMessages(view.mailboxId, [meta.uid])).length) return false;
    expunged = true;
    return true;
  };
  for (let i = 0; i < uids.length; i += PAGE) {
    // The read barrier again for each later page: what others committed since the command began is
    // shown only once it is on disk (docs/store.md "Durability").
    if (i > 0) {
      const barrier = store.durable?.();
      if (barrier) await barrier;
    }
    const page = uids.slice(i, i + PAGE);
    let metas = await metasFor(store, view.mailboxId, page);
    if (metas.length < page.length) expunged = true;
    // RFC 7162 §3.1.4.1: CHANGEDSINCE: only messages whose mod-sequence is higher
    if (opts.changedSince !== undefined) metas = metas.filter((m) => m.modseq > opts.changedSince!);
    const flagsChanged = new Set<number>();
    if (seen) {
      const unseen = metas.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
      if (unseen.length) {
        const r = await store.updateFlags(view.mailboxId, unseen, { mode: 'add', flags: ['\\Seen'] });
        const byUid = new Map(r.changed.map((c) => [c.uid, c]));
        for (const m of metas) {
          const c = byUid.get(m.uid);
          if (!c) continue;
          view.ownChanges.add(`${c.uid}:${c.modseq}`);
          m.flags = c.flags;
          m.modseq = c.modseq;
          flagsChanged.add(m.uid);
        }
      }
    }
    // RFC 9051 §7.3.5: keywords these responses carry are announced first
    if (hasFlags || flagsChanged.size) announceKeywords(conn, view, metas.flatMap((m) => m.flags));
    if (metaOnly) {
      // Metadata only (UID FETCH 1:* (UID FLAGS) and the like): composed synchronously, one write per page
      let text = '';
      for (const meta of metas) {
        const seq = view.seqOf(meta.uid);
        if (seq) text += `${fetchHead(conn, seq, meta.uid)}${metaItems(view, meta, flagsChanged.has(meta.uid) && !hasFlags ? [...items, { kind: 'FLAGS' }] : items)})\r\n`;
      }
      await writer.add([text]);
      continue;
    }
    // Per batch: the structures in one query, the responses composed, then every small blob range
    // of the batch read in one step (BlobStore.readMany: one round trip to the reader thread, not
    // four file operations per message); large bodies are streamed. The next batch is composed
    // and its read started while this one is written (the reader thread and the main thread
    // overlap). Written in order.
    type Wanted = { at: number; k: number; range: { blobId: string; start: number; end: number } };
    type Assembling = Promise<{ data: Buffer; failed: Array<null | 'gone' | string> }>;
    type Prepared = { batch: Meta[]; composed: Array<Piece[] | null>; wanted: Wanted[]; reading: Promise<Array<Buffer | null>>; assembling: Assembling | null };
    const prepare = async (batch: Meta[]): Promise<Prepared> => {
      const structures = wantStructure && batch.length ? await store.getStructures(view.mailboxId, batch.map((m) => m.uid)) : null;
      const composed: Array<Piece[] | null> = new Array<Piece[] | null>(batch.length).fill(null);
      const deferred: Array<{ at: number; parts: Composed }> = [];
      for (let at = 0; at < batch.length; at++) {
        const meta = batch[at]!;
        let st: MessageStructure | null = null;
        if (structures) {
          st = structures.get(meta.uid) ?? null;
          if (!st) {
            expunged = true;
            continue;
          }
        }
        const extra: FetchItem[] = flagsChanged.has(meta.uid) && !hasFlags ? [{ kind: 'FLAGS' }] : [];
        // RFC 7162 §3.1: a FETCH that set \Seen reports the new MODSEQ too once CONDSTORE is on
        if (extra.length && conn.condstore && !items.some((i) => i.kind === 'MODSEQ')) extra.push({ kind: 'MODSEQ' });
        const parts = composeOne(conn, view, meta, st, extra.length ? [...items, ...extra] : items);
        if (parts.some((p) => p instanceof Promise)) deferred.push({ at, parts });
        else composed[at] = [fetchHead(conn, view.seqOf(meta.uid), meta.uid), ...(parts as Piece[]), ')\r\n'];
      }
      // The items that need I/O, with bounded concurrency (the reads overlap)
      await mapLimit(deferred, IO_CONCURRENCY, async ({ at, parts }) => {
        const meta = batch[at]!;
        try {
          composed[at] = [fetchHead(conn, view.seqOf(meta.uid), meta.uid), ...(await settle(parts)), ')\r\n'];
        } catch (e) {
          if (!(await goneMeanwhile(e, meta))) throw e;
        }
      });
      // Text and small ranges only (BODY[], BODY.PEEK[], RFC822, HEADER, TEXT, MIME, parts): the
      // reader thread puts the responses together and the main thread writes them as they are.
      const assemble = store.blobs.assemble;
      if (assemble && composed.every((pieces) => !pieces || pieces.every((p) => typeof p === 'string' || (!Buffer.isBuffer(p) && p.end - p.start <= STREAM_ABOVE)))) {
        const parts = composed.filter((p): p is Piece[] => p !== null) as Array<Array<string | { blobId: string; start: number; end: number }>>;
        const assembling = assemble(parts.map((pieces) => pieces.filter((p) => typeof p === 'string' || p.end > p.start)));
        assembling.catch(() => undefined); // awaited in finish()
        return { batch, composed, wanted: [], reading: Promise.resolve([]), assembling };
      }
      // The small ranges of the whole batch, read together.
      const wanted: Wanted[] = [];
      for (let at = 0; at < composed.length; at++) {
        const pieces = composed[at];
        if (!pieces) continue;
        for (let k = 0; k < pieces.length; k++) {
          const p = pieces[k]!;
          if (typeof p === 'string' || Buffer.isBuffer(p)) continue;
          if (p.end <= p.start) pieces[k] = '';
          else if (p.end - p.start <= STREAM_ABOVE) wanted.push({ at, k, range: { blobId: p.blobId, start: p.start, end: p.end } });
        }
      }
      const reading = store.blobs.readMany(wanted.map((w) => w.range));
      reading.catch(() => undefined); // awaited in finish(); not unhandled if an earlier batch fails first
      return { batch, composed, wanted, reading, assembling: null };
    };
    const finish = async ({ batch, composed, wanted, reading, assembling }: Prepared): Promise<void> => {
      if (assembling) {
        const { data, failed } = await assembling;
        const present = batch.filter((_, at) => composed[at] !== null);
        for (let i = 0; i < failed.length; i++) {
          const why = failed[i];
          if (why === null) continue;
          // Issue 13: expunged by another session after its metadata was read, its blob gone with
          // it (RFC 9051 §7.1 EXPUNGEISSUED): left out of the data, reported as expunged.
          if (why === 'gone' && (await goneMeanwhile(new StoreError('not-found', 'blob gone'), present[i]!))) continue;
          throw new StoreError('not-found', why === 'gone' ? 'message data is missing' : `message data could not be read: ${why}`);
        }
        await writer.raw(data);
        return;
      }
      const got = await reading;
      for (let w = 0; w < wanted.length; w++) {
        const { at, k } = wanted[w]!;
        const bytes = got[w];
        // RFC 9051 §4.3: a literal is exactly the octets its size declares: a blob shorter than
        // its stored size (readMany clamps to the file) is refused, never sent short.
        const { start, end } = wanted[w]!.range;
        if (bytes && bytes.length !== end - start) throw new StoreError('not-found', 'message data could not be read: blob shorter than its stored size');
        if (bytes && composed[at]) composed[at]![k] = bytes;
        else if (composed[at]) {
          // Issue 13: another session expunged the message after its metadata was read and its
          // blob went with it (RFC 9051 §7.1 EXPUNGEISSUED): reported as expunged, no data.
          if (!(await goneMeanwhile(new StoreError('not-found', 'blob gone'), batch[at]!))) throw new StoreError('not-found', 'message data is missing');
          composed[at] = null;
        }
      }
      // Large bodies: opened now, before any byte of their response is written (a literal
      // cannot be taken back); an open file stays readable after an expunge unlinks it.
      const opened: Readable[] = [];
      try {
        for (let at = 0; at < composed.length; at++) {
          const pieces = composed[at];
          if (!pieces) continue;
          for (const p of pieces) {
            if (typeof p === 'string' || Buffer.isBuffer(p)) continue;
            try {
              p.stream = await openReady(store.blobs.open(p.blobId, { start: p.start, end: p.end }));
              opened.push(p.stream);
            } catch (e) {
              if (!(await goneMeanwhile(e, batch[at]!))) throw e;
              // this message is left out: the streams already opened for it are closed
              for (const q of pieces) {
                if (typeof q === 'string' || Buffer.isBuffer(q) || !q.stream) continue;
                q.stream.destroy();
                opened.splice(opened.indexOf(q.stream), 1);
              }
              composed[at] = null;
              break;
            }
          }
        }
        for (const pieces of composed) if (pieces) await writer.add(pieces);
      } catch (e) {
        for (const s of opened) s.destroy();
        throw e;
      }
    };
    let ahead: Promise<Prepared> | null = null;
    for (let j = 0; j < metas.length; ) {
      let bytes = 0;
      const from = j;
      while (j < metas.length && j - from < BATCH && (bytes < BATCH_BYTES || j === from)) bytes += Math.min(metas[j++]!.size, STREAM_ABOVE);
      const next = prepare(metas.slice(from, j).filter((m) => view.seqOf(m.uid) > 0));
      next.catch(() => undefined); // awaited below
      if (ahead) await finish(await ahead);
      ahead = next;
    }
    if (ahead) await finish(await ahead);
  }
  await writer.flush();
  return { expunged };
}

/** The section as it is echoed in the response: "1.HEADER.FIELDS (FROM TO)". */
function sectionLabel(spec: SectionSpec): string {
  let s = spec.part.join('.');
  if (spec.text) s += (s ? '.' : '') + spec.text;
  if (spec.fields?.length) s += ' (' + spec.fields.map((f) => f.toUpperCase()).join(' ') + ')';
  return s;
}

/** UID, FLAGS, INTERNALDATE, RFC822.SIZE from the metadata alone. */
function metaItems(view: SelectedView, meta: Meta, items: FetchItem[]): string {
  const out: string[] = [];
  for (const it of items) {
    if (it.kind === 'UID') out.push(`UID ${meta.uid}`);
    else if (it.kind === 'FLAGS') out.push(`FLAGS ${flagList(view.recent?.has(meta.uid) ? [...meta.flags, '\\Recent'] : meta.flags)}`);
    else if (it.kind === 'INTERNALDATE') out.push(`INTERNALDATE ${formatInternalDate(meta.internalDate)}`);
    else if (it.kind === 'RFC822.SIZE') out.push(`RFC822.SIZE ${meta.size}`);
    else if (it.kind === 'MODSEQ') out.push(`MODSEQ (${meta.modseq})`);
  }
  return out.join(' ');
}

/** A response being composed: pieces, and for the items that need I/O (THREADID, PREVIEW, BINARY, HEADER.FIELDS) their pieces to come. */
type Composed = Array<Piece | Promise<Piece[]>>;

/** The pieces once every deferred part has settled (in order). */
async function settle(c: Composed): Promise<Piece[]> {
  const out: Piece[] = [];
  for (const p of c) {
    if (p instanceof Promise) out.push(...(await p));
    else out.push(p);
  }
  return out;
}

/**
 * Composes one message's response. Synchronous for everything that needs no I/O (the common
 * case: no promise per message); an item that does is a deferred part, settled by the caller.
 */
function composeOne(conn: ImapConn, view: SelectedView, meta: Meta, st: MessageStructure | null, items: FetchItem[]): Composed {
  const out: Composed = [];
  const later = (make: () => Promise<Piece[]>): void => {
    const p = make();
    p.catch(() => undefined); // settled (and its error thrown) by settle(); never unhandled
    out.push(p);
  };
  const store = conn.ctx.store;
  const opts = { utf8: conn.utf8 };
  const sep = (): void => {
    if (out.length) out.push(' ');
  };
  for (const it of items) {
    sep();
    switch (it.kind) {
      case 'UID':
        out.push(`UID ${meta.uid}`);
        break;
      case 'FLAGS': {
        const flags = view.recent?.has(meta.uid) ? [...meta.flags, '\\Recent'] : meta.flags;
        out.push(`FLAGS ${flagList(flags)}`);
        break;
      }
      case 'INTERNALDATE':
        out.push(`INTERNALDATE ${formatInternalDate(meta.internalDate)}`);
        break;
      case 'RFC822.SIZE':
        out.push(`RFC822.SIZE ${meta.size}`);
        break;
      case 'MODSEQ':
        out.push(`MODSEQ (${meta.modseq})`);
        break;
      case 'EMAILID':
        // RFC 8474 §5.1
        out.push(`EMAILID (${emailObjectId(meta)})`);
        break;
      case 'THREADID':
        // RFC 8474 §5.2
        later(async () => [`THREADID (${await threadObjectId(store, meta, st!)})`]);
        break;
      case 'SAVEDATE':
        // RFC 8514 §5: NIL when the mailbox has no save date for the message (stored before it was kept)
        out.push(`SAVEDATE ${meta.savedDate ? formatInternalDate(meta.savedDate) : 'NIL'}`);
        break;
      case 'PREVIEW': {
        // RFC 8970 §3: made once per message (kept with its blob), never again on a later FETCH
        const lazy = it.lazy;
        later(async () => {
          const got = (await previewsOf(store, [meta], async (m) => st ?? (await store.getStructure(view.mailboxId, m.uid)), lazy)).get(meta.blobId);
          return [`PREVIEW ${nstring(got, conn.utf8)}`];
        });
        break;
      }
      case 'ENVELOPE':
        out.push(`ENVELOPE ${formatEnvelope(st!.envelope, opts)}`);
        break;
      case 'BODYSTRUCTURE':
        out.push(`BODYSTRUCTURE ${formatBodyStructure(st!.root, true, opts)}`);
        break;
      case 'BODY':
        out.push(`BODY ${formatBodyStructure(st!.root, false, opts)}`);
        break;
      case 'RFC822':
        out.push('RFC822 ', ...literalOf(meta.blobId, 0, meta.size));
        break;
      case 'RFC822.HEADER':
        out.push('RFC822.HEADER ', ...literalOf(meta.blobId, 0, st!.root.bodyStart));
        break;
      case 'RFC822.TEXT':
        out.push('RFC822.TEXT ', ...literalOf(meta.blobId, st!.root.bodyStart, meta.size));
        break;
      case 'BINARY.SIZE': {
        const spec = it.spec;
        later(async () => [`BINARY.SIZE[${sectionLabel(spec)}] ${(await binaryBytes(conn, meta, st!, spec)).length}`]);
        break;
      }
      case 'section': {
        const label = `${it.binary ? 'BINARY' : 'BODY'}[${sectionLabel(it.spec)}]${it.partial ? `<${it.partial.start}>` : ''} `;
        if (it.binary) {
          const { spec, partial } = it;
          later(async () => {
            let data = await binaryBytes(conn, meta, st!, spec);
            if (partial) data = data.subarray(partial.start, partial.start + partial.length);
            // RFC 3516 §4.3: literal8 when the decoded data holds NUL
            return [label + (data.includes(0) ? '~' : '') + `{${data.length}}\r\n`, data];
          });
          break;
        }
        // BODY[] needs no structure: the whole message is its stored size
        const range = wholeMessage(it) ? { start: 0, end: meta.size, filter: undefined } : resolveSection(st!, it.spec);
        if (!range) {
          // RFC 9051 §6.4.5: a section that does not exist is an empty string; sent as "{0}", as the
          // reference servers do (MIME corpus 09, 10: Dovecot answers BODY[2] {0})
          out.push(label + '{0}\r\n');
          break;
        }
        if (range.filter) {
          const { filter, start, end } = range;
          const partial = it.partial;
          later(async () => {
            let data = filter(await store.blobs.read(meta.blobId, { start, end }));
            if (partial) data = data.subarray(partial.start, partial.start + partial.length);
            return [label + `{${data.length}}\r\n`, data];
          });
          break;
        }
        let { start, end } = range;
        if (it.partial) {
          start = Math.min(end, start + it.partial.start);
          end = Math.min(end, start + it.partial.length);
        }
        out.push(label, ...literalOf(meta.blobId, start, end));
        break;
      }
    }
  }
  return out;
}

function literalOf(blobId: string, start: number, end: number): Piece[] {
  return [`{${end - start}}\r\n`, { blobId, start, end }];
}

async function binaryBytes(conn: ImapConn, meta: Meta, st: MessageStructure, spec: SectionSpec): Promise<Buffer> {
  const part = spec.part.length ? findPart(st, spec.part) : st.root;
  if (!part) throw new ImapError('NO', 'NONEXISTENT', 'No such part');
  const range = resolveSection(st, spec);
  if (!range) throw new ImapError('NO', 'NONEXISTENT', 'No such part');
  const raw = await conn.ctx.store.blobs.read(meta.blobId, { start: range.start, end: range.end });
  // BINARY of a whole multipart or message: the raw bytes (no single transfer encoding applies)
  if (part.type === 'multipart' || spec.part.length === 0) return raw;
  const dec = decodeTransfer(part.encoding, raw);
  // RFC 3516 §4.3: UNKNOWN-CTE when the encoding cannot be decoded
  if (!dec) throw new ImapError('NO', 'UNKNOWN-CTE', `Cannot decode ${part.encoding}`);
  return dec;
}

/**
 * Collects FETCH responses and writes them in batches: protocol text and small bodies are copied
 * into one 64 KiB chunk (one allocation and one write per chunk, not one buffer per piece); a
 * body of a quarter chunk or more is written as it is, without a copy.
 */
const CHUNK = 64 * 1024;

class ResponseWriter {
  private chunk = Buffer.allocUnsafeSlow(CHUNK);
  private pos = 0;
  constructor(private readonly conn: ImapConn) {}

  async flush(): Promise<void> {
    if (!this.pos) return;
    const out = this.chunk.subarray(0, this.pos);
    // the socket holds the written chunk until it is sent: a new one for what follows
    this.chunk = Buffer.allocUnsafeSlow(CHUNK);
    this.pos = 0;
    await this.conn.writeAndDrain(out);
  }

  private async text(s: string): Promise<void> {
    // at most 3 bytes of UTF-8 per UTF-16 unit
    if (s.length * 3 > CHUNK - this.pos) {
      await this.flush();
      if (s.length * 3 > CHUNK) {
        await this.conn.writeAndDrain(Buffer.from(s, 'utf8'));
        return;
      }
    }
    this.pos += this.chunk.write(s, this.pos, 'utf8');
  }

  private async bytes(b: Buffer): Promise<void> {
    if (b.length > CHUNK - this.pos) {
      await this.flush();
      if (b.length >= CHUNK / 4) {
        await this.conn.writeAndDrain(b);
        return;
      }
    }
    b.copy(this.chunk, this.pos);
    this.pos += b.length;
  }

  /** Bytes already in wire form, written as they are (after what is in the chunk). */
  async raw(data: Buffer): Promise<void> {
    if (data.length < CHUNK / 4) return this.bytes(data);
    await this.flush();
    await this.conn.writeAndDrain(data);
  }

  async add(pieces: Piece[]): Promise<void> {
    for (const p of pieces) {
      if (typeof p === 'string') await this.text(p);
      else if (Buffer.isBuffer(p)) await this.bytes(p);
      else {
        // runFetch has read every small range and opened every large one before this
        if (!p.stream) throw new Error('FETCH: a blob range reached the writer unread');
        await this.flush();
        // DESIGN.md: large bodies stream; no code path holds a whole large message in memory.
        // The stream was opened before the response began (runFetch): an open file stays
        // readable even if the message is expunged and its blob unlinked meanwhile.
        let sent = 0;
        for await (const chunk of p.stream) {
          sent += (chunk as Buffer).length;
          await this.conn.writeAndDrain(chunk as Buffer);
        }
        if (sent !== p.end - p.start) {
          // RFC 9051 §4.3: the client reads exactly the octets the literal declared; its size is
          // sent and the blob ended short (a damaged store): anything more would be read as
          // message data, so the connection ends here.
          this.conn.bye('Message data could not be read, closing the connection');
          throw new StoreError('not-found', 'message data could not be read: blob shorter than its stored size');
        }
      }
    }
  }
}
