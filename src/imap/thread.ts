// THREAD (RFC 5256 §3): ORDEREDSUBJECT and REFERENCES, step by step as the RFC writes them, and
// the thread-list response (RFC 5256 §4). The algorithms are pure functions of the messages
// (UID, sent date, base subject, Message-ID, references), tested with the RFC's rules one by one.
import type { MessageStructure } from '../message/types.js';
import type { MessageMeta, Store } from '../store/types.js';
import { headerBytesToString, parseHeaderFields } from '../message/headers.js';
import { baseSubject, casemapKey, compareKeys, forEachWithStructure, sentDate, type BaseSubject } from './sort.js';
import { mapLimit } from './server/parallel.js';

export type ThreadAlgorithm = 'ORDEREDSUBJECT' | 'REFERENCES';
export const THREAD_ALGORITHMS: readonly ThreadAlgorithm[] = ['ORDEREDSUBJECT', 'REFERENCES'];

/** What threading needs of one message. Messages are given in sequence (= UID) order. */
export interface ThreadMsg {
  uid: number;
  /** RFC 5256 §2.2 sent date, ms. */
  sent: number;
  subject: BaseSubject;
  /** The message's own Message-ID (without <>), null when it has no valid one. */
  messageId: string | null;
  /** RFC 5256 §3 REFERENCES (1): the References IDs, or else the first In-Reply-To ID. */
  refs: string[];
}

/** A node of the thread tree: a message, or a dummy (msg null) standing for a missing one. */
export interface ThreadNode {
  msg: ThreadMsg | null;
  parent: ThreadNode | null;
  children: ThreadNode[];
}

const MSG_ID = /<([^<>\s@]+@[^<>\s]+)>/g;

/** The valid msg-ids (RFC 5322 §3.6.4: "<" id-left "@" id-right ">") of a header value, in order, without the brackets. */
export function messageIds(value: string | null | undefined): string[] {
  if (!value) return [];
  // comments may sit between ids; folding is gone already
  const s = value.replace(/\([^()]*\)/g, ' ');
  return [...s.matchAll(MSG_ID)].map((m) => m[1]!);
}

/** RFC 5256 §3 REFERENCES (1): the References IDs; without a valid one, the first valid In-Reply-To ID. */
export function referencesOf(references: string | null, inReplyTo: string | null): string[] {
  const refs = messageIds(references);
  if (refs.length) return refs;
  const irt = messageIds(inReplyTo);
  return irt.length ? [irt[0]!] : [];
}

function node(msg: ThreadMsg | null): ThreadNode {
  return { msg, parent: null, children: [] };
}

function link(parent: ThreadNode, child: ThreadNode): void {
  child.parent = parent;
  parent.children.push(child);
}

function unlink(child: ThreadNode): void {
  const p = child.parent;
  if (!p) return;
  const i = p.children.indexOf(child);
  if (i >= 0) p.children.splice(i, 1);
  child.parent = null;
}

/** True when `a` is `b` or a descendant of `b` (walks up from a: no recursion, however deep). */
function isWithin(a: ThreadNode, b: ThreadNode): boolean {
  for (let n: ThreadNode | null = a; n; n = n.parent) if (n === b) return true;
  return false;
}

/** Sent-date order, ties in sequence order (RFC 5256 §2.2); a dummy sorts as its first child. */
function dateOf(n: ThreadNode): ThreadMsg {
  let x = n;
  while (!x.msg) x = x.children[0]!;
  return x.msg;
}

function byDate(a: ThreadNode, b: ThreadNode): number {
  const x = dateOf(a);
  const y = dateOf(b);
  return x.sent - y.sent || x.uid - y.uid;
}

/** Every node below root, parents before children (iterative: threads can be thousands deep). */
function preorder(root: ThreadNode): ThreadNode[] {
  const out: ThreadNode[] = [];
  const stack = [...root.children];
  while (stack.length) {
    const n = stack.pop()!;
    out.push(n);
    for (const c of n.children) stack.push(c);
  }
  return out;
}

/**
 * RFC 5256 §3 ORDEREDSUBJECT: messages sorted by base subject and then sent date; each run of one
 * subject is a thread whose first message is the parent of all the others (in sent-date order);
 * the threads are in the order of their first messages' sent dates.
 */
export function threadOrderedSubject(msgs: readonly ThreadMsg[]): ThreadNode[] {
  const keyed = msgs.map((m) => ({ m, k: casemapKey(m.subject.subject) }));
  keyed.sort((a, b) => compareKeys(a.k, b.k) || a.m.sent - b.m.sent || a.m.uid - b.m.uid);
  const threads: ThreadNode[] = [];
  let prevKey: string | null = null;
  let top: ThreadNode | null = null;
  for (const { m, k } of keyed) {
    if (top && k === prevKey) link(top, node(m));
    else {
      top = node(m);
      threads.push(top);
      prevKey = k;
    }
  }
  return threads.sort(byDate);
}

/** RFC 5256 §3 REFERENCES, steps 1-6. */
export function threadReferences(msgs: readonly ThreadMsg[]): ThreadNode[] {
  const table = new Map<string, ThreadNode>();
  const all: ThreadNode[] = [];
  const container = (id: string): ThreadNode => {
    let c = table.get(id);
    if (!c) {
      c = node(null);
      table.set(id, c);
      all.push(c);
    }
    return c;
  };
  for (const m of msgs) {
    // (1)(A) a message without a valid Message-ID, or with one an earlier (lower sequence number)
    // message already has, gets a unique ID of its own: a container outside the table.
    // Message-ID comparisons are case-sensitive.
    let self: ThreadNode;
    const existing = m.messageId !== null ? table.get(m.messageId) : undefined;
    if (m.messageId !== null && (!existing || !existing.msg)) {
      self = container(m.messageId);
      self.msg = m;
    } else {
      self = node(m);
      all.push(self);
    }
    // (1)(A) link the references in order, first the parent of the second...; a dummy for an ID
    // not seen; a child that has a parent keeps it (References may be truncated); no loops.
    for (let i = 0; i + 1 < m.refs.length; i++) {
      const parent = container(m.refs[i]!);
      const child = container(m.refs[i + 1]!);
      if (child.parent || parent === child || isWithin(parent, child)) continue;
      link(parent, child);
    }
    // (1)(B) the last reference is the parent of this message: an existing parent (presumed from
    // another message's References) is broken first; no link that would make a loop.
    const last = m.refs.length ? container(m.refs[m.refs.length - 1]!) : null;
    if (self.parent !== last) {
      unlink(self);
      if (last && !isWithin(last, self)) link(last, self);
    }
  }
  // (2) every node without a parent becomes a child of the root
  const root = node(null);
  for (const c of all) if (!c.parent) link(root, c);
  // (3) prune dummies: without children, delete; with children, replace by them (promote),
  // except at the top level when there is more than one child. Bottom-up, so promoted children
  // are already pruned.
  const order = preorder(root);
  order.unshift(root);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const kept: ThreadNode[] = [];
    for (const c of n.children) {
      if (c.msg) kept.push(c);
      else if (c.children.length === 0) continue;
      else if (n === root && c.children.length > 1) kept.push(c);
      else
        for (const g of c.children) {
          g.parent = n;
          kept.push(g);
        }
    }
    n.children = kept;
  }
  // (4) sort the top level by sent date; a dummy's children first, then it sorts as its first child
  for (const c of root.children) if (!c.msg) c.children.sort(byDate);
  root.children.sort(byDate);
  // (5) gather top-level threads with the same base subject
  const threadSubject = (c: ThreadNode): { key: string; s: BaseSubject } => {
    const s = (c.msg ?? c.children[0]!.msg!).subject;
    return { key: casemapKey(s.subject), s };
  };
  // (5)(B) one thread per subject: a dummy before a message, a message that is not a reply or
  // forward before one that is
  const subjects = new Map<string, ThreadNode>();
  for (const c of root.children) {
    const { key } = threadSubject(c);
    if (key === '') continue;
    const old = subjects.get(key);
    if (!old) subjects.set(key, c);
    else if (old.msg && (!c.msg || (old.msg.subject.replyOrForward && !c.msg.subject.replyOrForward))) subjects.set(key, c);
  }
  // (5)(C) merge each other thread of that subject into it
  const top = [...root.children];
  const atTop = new Set(top);
  for (const c of top) {
    if (!atTop.has(c)) continue;
    const { key } = threadSubject(c);
    if (key === '') continue;
    const t = subjects.get(key)!;
    if (t === c) continue;
    atTop.delete(c);
    if (!t.msg && !c.msg) {
      // both dummies: the current one's children join the table's, the current one goes
      for (const g of c.children) link(t, g);
      c.children = [];
    } else if (!t.msg) {
      link(t, c);
    } else if (c.msg!.subject.replyOrForward && !t.msg.subject.replyOrForward) {
      link(t, c);
    } else {
      // neither (or both) replies: siblings under a new dummy, which takes the table's place
      const d = node(null);
      const i = root.children.indexOf(t);
      root.children[i] = d;
      atTop.delete(t);
      atTop.add(d);
      d.parent = root;
      link(d, t);
      link(d, c);
      subjects.set(key, d);
    }
  }
  root.children = root.children.filter((c) => atTop.has(c));
  for (const c of root.children) c.parent = null;
  // (6) sort every set of siblings by sent date, the youngest generation first (a dummy sorts
  // as its first child, so its children are sorted before it is)
  const nodes = preorder(root);
  for (let i = nodes.length - 1; i >= 0; i--) nodes[i]!.children.sort(byDate);
  root.children.sort(byDate);
  return root.children;
}

/**
 * RFC 5256 §4 thread-data: thread-list = "(" (thread-members / thread-nested) ")"; a chain of
 * single children is one list of numbers, a node with several children ends its list with one
 * nested thread-list per child; a top-level dummy is only its children's lists.
 */
export function formatThreads(threads: readonly ThreadNode[], num: (uid: number) => number): string {
  const out: string[] = [];
  const stack: Array<string | ThreadNode> = [];
  for (let i = threads.length - 1; i >= 0; i--) stack.push(threads[i]!);
  while (stack.length) {
    const t = stack.pop()!;
    if (typeof t === 'string') {
      out.push(t);
      continue;
    }
    const nums: number[] = [];
    let n = t;
    while (n.msg && n.children.length === 1) {
      nums.push(num(n.msg.uid));
      n = n.children[0]!;
    }
    if (n.msg) nums.push(num(n.msg.uid));
    out.push('(' + nums.join(' '));
    stack.push(')');
    if (n.children.length) {
      if (nums.length) out.push(' ');
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
    }
  }
  return out.join('');
}

const HEADER_READS = 16;

/** The References: value of a message, read from its header (not in the envelope kept at delivery). */
export async function referencesHeader(store: Store, meta: MessageMeta, st: MessageStructure): Promise<string | null> {
  const raw = await store.blobs.read(meta.blobId, { start: 0, end: st.root.bodyStart });
  const fields = parseHeaderFields(headerBytesToString(raw).text);
  const f = fields.filter((x) => x.key === 'references');
  return f.length ? f.map((x) => x.value).join(' ') : null;
}

/**
 * Threads the given messages (ascending UIDs). Envelopes come a page at a time; REFERENCES also
 * reads each message's header for its References: field (bounded concurrency).
 */
export async function threadMessages(store: Store, mailboxId: number, uids: readonly number[], algorithm: ThreadAlgorithm): Promise<ThreadNode[]> {
  const msgs: ThreadMsg[] = [];
  const pending: Array<{ i: number; meta: MessageMeta; st: MessageStructure }> = [];
  await forEachWithStructure(store, mailboxId, uids, (meta, st) => {
    const env = st?.envelope;
    const m: ThreadMsg = {
      uid: meta.uid,
      sent: sentDate(st, meta.internalDate),
      subject: baseSubject(env?.subject ?? null),
      messageId: messageIds(env?.messageId)[0] ?? null,
      refs: referencesOf(null, env?.inReplyTo ?? null),
    };
    if (algorithm === 'REFERENCES' && st) pending.push({ i: msgs.length, meta, st });
    msgs.push(m);
  });
  if (algorithm === 'ORDEREDSUBJECT') return threadOrderedSubject(msgs);
  const refs = await mapLimit(pending, HEADER_READS, (p) => referencesHeader(store, p.meta, p.st));
  pending.forEach((p, k) => {
    const m = msgs[p.i]!;
    m.refs = referencesOf(refs[k] ?? null, p.st.envelope.inReplyTo);
  });
  return threadReferences(msgs);
}
