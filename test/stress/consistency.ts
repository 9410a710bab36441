// Multi-client stress run with consistency checking (issue 12), in the spirit of imaptest's
// stress mode: N clients on shared mailboxes mix SELECT, FETCH, STORE, EXPUNGE, APPEND, SEARCH,
// MOVE, IDLE and NOOP at random. Each client keeps the mailbox as the server told it (UIDs in sequence order
// from EXISTS, EXPUNGE, VANISHED and FETCH UID; the keywords announced by FLAGS) and checks every
// response against it. Any divergence is an error:
//   - a FETCH or SEARCH naming a sequence number the client was never told about, an EXPUNGE of
//     one, EXISTS going down without EXPUNGE;
//   - a FETCH whose UID differs from the UID the client has at that sequence number;
//   - a FETCH FLAGS with a keyword not announced by a FLAGS response first (RFC 9051 §7.3.5);
//   - client i's own keyword ("own<i>", which no other client touches) shown on a message where
//     client i did not set it, or missing where it did, once its STORE has completed (a stale
//     FLAGS report after a newer one); a message's first report sets what the client knows (a
//     MOVE carries the keyword along to a new UID);
//   - a message the client appended (APPENDUID) that is neither announced by the next NOOP nor
//     expunged;
//   - FETCH 1:* not answering every sequence number (unless [EXPUNGEISSUED]);
//   - with QRESYNC (MODSEQ in every FETCH FLAGS), a MODSEQ lower than one reported before for the
//     message, or the same MODSEQ with other flags (a stale report);
//   - an IDLE that does not end with OK after DONE;
//   - a tagged NO/BAD the operation does not allow, a connection that closes, a reply slower
//     than the timeout.
// Half the clients ENABLE QRESYNC (VANISHED instead of EXPUNGE).
import { RawImap, openSession, type Response } from '../compliance/client.js';
import { crlf, fetchItems } from '../compliance/runner.js';

export interface StressOptions {
  port: number;
  user: string;
  pass: string;
  clients?: number;
  seconds: number;
  seed?: number;
  mailboxes?: string[];
  /** Messages put in each mailbox before the clients start. */
  initial?: number;
  log?: (line: string) => void;
}

export interface StressResult {
  commands: number;
  errors: string[];
  /** Commands per kind, to show the mix was exercised. */
  byKind: Record<string, number>;
}

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYSTEM_FLAGS = new Set(['\\seen', '\\answered', '\\flagged', '\\deleted', '\\draft', '\\recent']);

function parseUidSet(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',')) {
    const [a, b] = part.split(':').map(Number);
    if (b === undefined) out.push(a!);
    else for (let x = Math.min(a!, b); x <= Math.max(a!, b); x++) out.push(x);
  }
  return out;
}

export class Client {
  /** UIDs in sequence order; 0 = announced by EXISTS, UID not known yet. */
  view: number[] = [];
  flags = new Map<number, Set<string>>();
  /** The highest MODSEQ reported per UID (clients with QRESYNC get MODSEQ with every FLAGS). */
  modseq = new Map<number, number>();
  announced = new Set<string>();
  selected: string | null = null;
  /** UIDs (in the selected mailbox) where this client's own keyword is set. */
  own = new Map<string, Set<number>>();
  /** UIDs whose own-keyword STORE is in flight (either state may be reported). */
  pendingOwn = new Set<number>();
  /** Appended to the selected mailbox, not yet seen in the view. */
  appended = new Set<number>();
  expunged = new Set<number>();
  /** The UIDs must be learned again (see resolveUnknown). */
  rebuild = false;
  tag = 0;
  readonly keyword: string;
  constructor(
    readonly id: number,
    readonly conn: RawImap,
    readonly qresync: boolean,
    readonly err: (msg: string) => void,
  ) {
    this.keyword = `own${id}`;
  }

  /** UIDs (per mailbox) whose flags this client has been told at least once. */
  seen = new Map<string, Set<number>>();

  seenSet(): Set<number> {
    const box = this.selected!;
    let s = this.seen.get(box);
    if (!s) this.seen.set(box, (s = new Set()));
    return s;
  }

  ownSet(): Set<number> {
    const box = this.selected!;
    let s = this.own.get(box);
    if (!s) this.own.set(box, (s = new Set()));
    return s;
  }

  where(): string {
    return `client ${this.id} (${this.selected ?? 'none'}, ${this.view.length} known)`;
  }

  /** Applies one untagged response to the view, checking it. */
  apply(r: Response, cmd: string): void {
    const t = r.text;
    let m: RegExpExecArray | null;
    if ((m = /^(\d+) EXISTS$/i.exec(t))) {
      const n = Number(m[1]);
      if (n < this.view.length) this.err(`${this.where()}: EXISTS ${n} below ${this.view.length} without EXPUNGE (during ${cmd})`);
      while (this.view.length < n) this.view.push(0);
      return;
    }
    if ((m = /^(\d+) EXPUNGE$/i.exec(t))) {
      const n = Number(m[1]);
      if (this.qresync) this.err(`${this.where()}: EXPUNGE after ENABLE QRESYNC (RFC 7162 §3.2.10) (during ${cmd})`);
      if (n < 1 || n > this.view.length) {
        this.err(`${this.where()}: EXPUNGE ${n} of a sequence number never announced (during ${cmd})`);
        return;
      }
      const [uid] = this.view.splice(n - 1, 1);
      if (uid) this.forget(uid);
      return;
    }
    if ((m = /^VANISHED (\(EARLIER\) )?(\S+)$/i.exec(t))) {
      if (m[1]) return;
      for (const uid of parseUidSet(m[2]!)) {
        const i = this.view.indexOf(uid);
        // RFC 7162 §3.2.10: VANISHED without EARLIER names only UIDs the client knows... or may not
        // know yet (announced by EXISTS, UID not fetched): those are dropped below.
        if (i >= 0) this.view.splice(i, 1);
        else if (this.view.includes(0) && !this.expunged.has(uid)) {
          // One of the messages whose UID is not known yet (announced by EXISTS): relearn the UIDs.
          this.view.splice(this.view.lastIndexOf(0), 1);
          this.rebuild = true;
        } else this.err(`${this.where()}: VANISHED ${uid}, a UID ${this.expunged.has(uid) ? 'already expunged' : 'never announced'} (during ${cmd})`);
        this.forget(uid);
      }
      return;
    }
    if ((m = /^FLAGS \((.*)\)$/i.exec(t))) {
      for (const f of m[1]!.split(/\s+/).filter(Boolean)) this.announced.add(f.toLowerCase());
      return;
    }
    if ((m = /^OK \[PERMANENTFLAGS \((.*)\)\]/i.exec(t))) {
      for (const f of m[1]!.split(/\s+/).filter(Boolean)) this.announced.add(f.toLowerCase());
      return;
    }
    if ((m = /^SEARCH((?: \d+)*)(?: \(MODSEQ \d+\))?$/i.exec(t))) {
      for (const n of m[1]!.trim().split(/\s+/).filter(Boolean).map(Number)) {
        if (n > this.view.length) this.err(`${this.where()}: SEARCH names ${n}, never announced (during ${cmd})`);
        // Only this client sets its keyword: every message found by KEYWORD own<i> must have it.
        const uid = this.view[n - 1];
        if (uid && cmd === `SEARCH KEYWORD ${this.keyword}` && !this.ownSet().has(uid)) this.err(`${this.where()}: SEARCH KEYWORD ${this.keyword} found UID ${uid}, which does not have it (during ${cmd})`);
      }
      return;
    }
    if ((m = /^(\d+) FETCH \(([\s\S]*)\)$/i.exec(t))) {
      const n = Number(m[1]);
      if (n < 1 || n > this.view.length) {
        this.err(`${this.where()}: FETCH ${n} of a sequence number never announced (during ${cmd}): ${t.slice(0, 120)}`);
        return;
      }
      const items = fetchItems(m[2]!) ?? [];
      const get = (k: string) => items.find(([name]) => name.toUpperCase() === k)?.[1];
      const uidText = get('UID');
      let uid = this.view[n - 1]!;
      if (uidText !== undefined) {
        const u = Number(uidText);
        if (this.rebuild) {
          // The UIDs are being learned again (see resolveUnknown): no checks until then.
          if (this.view.includes(u)) this.view[this.view.indexOf(u)] = 0;
          this.view[n - 1] = u;
          uid = u;
        } else if (uid && uid !== u) this.err(`${this.where()}: FETCH ${n} says UID ${u}, the client has UID ${uid} there (during ${cmd})`);
        if (!uid) {
          if (this.view.includes(u)) this.err(`${this.where()}: UID ${u} at two sequence numbers (during ${cmd})`);
          this.view[n - 1] = u;
          uid = u;
          this.appended.delete(u);
        }
      }
      const flagsText = get('FLAGS');
      if (flagsText !== undefined) {
        const fl = new Set(flagsText.replace(/^\(|\)$/g, '').split(/\s+/).filter(Boolean).map((f) => f.toLowerCase()));
        for (const f of fl) {
          if (!SYSTEM_FLAGS.has(f) && !this.announced.has(f)) this.err(`${this.where()}: keyword ${f} used before a FLAGS response announced it (during ${cmd})`);
        }
        if (uid) {
          // RFC 7162 §3.1.4: MODSEQ grows with every change of a message; an older MODSEQ, or the
          // same MODSEQ with other flags, is a stale report.
          const ms = /^\((\d+)\)$/.exec(get('MODSEQ') ?? '');
          if (ms) {
            const modseq = Number(ms[1]);
            const prev = this.modseq.get(uid);
            const prevFlags = this.flags.get(uid);
            const same = (a: Set<string>, b: Set<string>) => [...a].filter((f) => f !== '\\recent').sort().join(' ') === [...b].filter((f) => f !== '\\recent').sort().join(' ');
            if (prev !== undefined && modseq < prev) this.err(`${this.where()}: UID ${uid} reported with MODSEQ ${modseq} after ${prev} (during ${cmd})`);
            else if (prev === modseq && prevFlags && !same(prevFlags, fl)) this.err(`${this.where()}: UID ${uid} MODSEQ ${modseq} reported with two flag sets (during ${cmd})`);
            if (prev === undefined || modseq > prev) this.modseq.set(uid, modseq);
          }
          this.flags.set(uid, fl);
          const seen = this.seenSet();
          if (!seen.has(uid)) {
            // First report of this message to this client: its own keyword may have come along
            // with a MOVE by another client; from now on only this client changes it.
            seen.add(uid);
            if (fl.has(this.keyword)) this.ownSet().add(uid);
          } else if (!this.pendingOwn.has(uid)) {
            const want = this.ownSet().has(uid);
            if (fl.has(this.keyword) !== want) this.err(`${this.where()}: UID ${uid} reported ${want ? 'without' : 'with'} ${this.keyword}, which only this client sets and it ${want ? 'set' : 'did not set'} (during ${cmd})`);
          }
        }
      }
    }
  }

  forget(uid: number): void {
    this.flags.delete(uid);
    this.modseq.delete(uid);
    this.ownSet().delete(uid);
    this.appended.delete(uid);
    this.expunged.add(uid);
  }

  async cmd(text: string | Array<string | { literal: Buffer; nonSync: boolean }>, allowNo = false, kindName = ''): Promise<Response | null> {
    const tag = `s${this.id}x${++this.tag}`;
    const parts = typeof text === 'string' ? [`${tag} ${text}`] : [`${tag} `, ...text];
    const label = typeof text === 'string' ? text : `${kindName}`;
    const got = await this.conn.command(tag, parts, 30_000);
    const tagged = got[got.length - 1];
    if (!tagged || tagged.tag !== tag) {
      this.err(`${this.where()}: no tagged reply to ${label}${this.conn.closed ? ' (connection closed)' : ' within 30 s'}`);
      return null;
    }
    for (const r of got.slice(0, -1)) if (r.tag === '*') this.apply(r, label);
    if (/^BAD/i.test(tagged.text) || (/^NO/i.test(tagged.text) && !allowNo)) this.err(`${this.where()}: ${label} answered ${tagged.text}`);
    return tagged;
  }
}

export async function runStress(o: StressOptions): Promise<StressResult> {
  const nClients = o.clients ?? 10;
  const boxes = o.mailboxes ?? ['stress-a', 'stress-b'];
  const random = rng(o.seed ?? 12);
  const errors: string[] = [];
  const byKind: Record<string, number> = {};
  let commands = 0;
  const err = (m: string) => {
    if (errors.length < 1000) errors.push(m);
    o.log?.(`ERROR ${m}`);
  };
  const msg = (i: number) => crlf(`From: stress${i}@a.test\nTo: alice@a.test\nSubject: stress ${i} ${random().toString(36).slice(2)}\nMessage-ID: <s${i}.${Date.now()}@a.test>\n\nbody ${i}\n`);

  // Setup: fresh mailboxes with some messages.
  const setup = await openSession(o.port, o.user, o.pass);
  for (const b of boxes) {
    await setup.command('d', [`d DELETE ${b}`]);
    await setup.command('c', [`c CREATE ${b}`]);
    for (let i = 0; i < (o.initial ?? 20); i++) await setup.command('a', [`a APPEND ${b} `, { literal: msg(i), nonSync: false }]);
  }
  setup.close();

  const deadline = Date.now() + o.seconds * 1000;
  const clients: Client[] = [];
  for (let i = 0; i < nClients; i++) clients.push(new Client(i, await openSession(o.port, o.user, o.pass), i % 2 === 1, err));

  async function select(c: Client): Promise<void> {
    const box = boxes[Math.floor(random() * boxes.length)]!;
    c.selected = box;
    c.view = [];
    c.flags.clear();
    c.modseq.clear();
    c.announced.clear();
    c.pendingOwn.clear();
    c.appended.clear();
    c.expunged.clear();
    c.rebuild = false;
    // The own keyword's state per mailbox is kept across SELECTs: only this client changes it.
    await c.cmd(`SELECT ${box}`);
    await fullCheck(c);
  }

  /** FETCH 1:* (UID FLAGS): every sequence number must be answered, UIDs as the client has them. */
  async function fullCheck(c: Client): Promise<void> {
    if (!c.view.length) {
      await c.cmd('NOOP');
      if (!c.view.length) return;
    }
    const before = c.view.length;
    const seen = new Set<number>();
    const conn = c.conn;
    const tag = `s${c.id}x${++c.tag}`;
    const got = await conn.command(tag, [`${tag} FETCH 1:* (UID FLAGS)`], 30_000);
    const tagged = got[got.length - 1];
    if (!tagged || tagged.tag !== tag) {
      err(`${c.where()}: no tagged reply to FETCH 1:*`);
      return;
    }
    for (const r of got.slice(0, -1)) {
      if (r.tag !== '*') continue;
      const m = /^(\d+) FETCH \(/i.exec(r.text);
      c.apply(r, 'FETCH 1:*');
      if (m) seen.add(Number(m[1]));
    }
    if (/^(BAD|NO)/i.test(tagged.text)) err(`${c.where()}: FETCH 1:* answered ${tagged.text}`);
    else if (!/EXPUNGEISSUED/i.test(tagged.text)) {
      for (let n = 1; n <= Math.min(before, c.view.length); n++) if (!seen.has(n)) err(`${c.where()}: FETCH 1:* did not answer ${n}`);
    }
  }

  const pickUid = (c: Client): number | null => {
    const known = c.view.filter((u) => u > 0);
    return known.length ? known[Math.floor(random() * known.length)]! : null;
  };

  async function step(c: Client): Promise<void> {
    if (!c.selected || random() < 0.03) {
      byKind.SELECT = (byKind.SELECT ?? 0) + 1;
      return select(c);
    }
    const r = random();
    let kind: string;
    if (r < 0.25) {
      kind = 'FETCH';
      if (!c.view.length) return void (await c.cmd('NOOP'));
      const a = 1 + Math.floor(random() * c.view.length);
      const b = Math.min(c.view.length, a + Math.floor(random() * 5));
      await c.cmd(`FETCH ${a}:${b} (UID FLAGS${random() < 0.3 ? ' BODY.PEEK[HEADER.FIELDS (SUBJECT)]' : ''})`);
    } else if (r < 0.5) {
      kind = 'STORE';
      const uid = pickUid(c);
      if (uid === null) return void (await c.cmd('NOOP'));
      const which = random();
      if (which < 0.4) {
        // The own keyword: add or remove, and know it from the tagged OK on.
        const add = !c.ownSet().has(uid) || random() < 0.3;
        c.pendingOwn.add(uid);
        const t = await c.cmd(`UID STORE ${uid} ${add ? '+' : '-'}FLAGS${random() < 0.3 ? '.SILENT' : ''} (${c.keyword})`);
        c.pendingOwn.delete(uid);
        if (t && /^OK/i.test(t.text) && !c.expunged.has(uid)) {
          if (add) c.ownSet().add(uid);
          else c.ownSet().delete(uid);
        }
      } else if (which < 0.7) {
        await c.cmd(`UID STORE ${uid} ${random() < 0.5 ? '+' : '-'}FLAGS (\\Seen \\Flagged)`);
      } else {
        await c.cmd(`UID STORE ${uid} +FLAGS.SILENT (\\Deleted)`);
      }
    } else if (r < 0.62) {
      kind = 'EXPUNGE';
      if (random() < 0.5) await c.cmd('EXPUNGE');
      else {
        const uid = pickUid(c);
        await c.cmd(uid ? `UID EXPUNGE ${uid}` : 'EXPUNGE');
      }
    } else if (r < 0.77) {
      kind = 'APPEND';
      const into = random() < 0.7 ? c.selected : boxes[Math.floor(random() * boxes.length)]!;
      const t = await c.cmd([`APPEND ${into} `, { literal: msg(commands), nonSync: random() < 0.5 }], false, `APPEND ${into}`);
      const m = t ? /\[APPENDUID \d+ (\d+)\]/i.exec(t.text) : null;
      if (into === c.selected) {
        if (!m) err(`${c.where()}: APPEND without APPENDUID: ${t?.text}`);
        else if (!c.view.includes(Number(m[1]))) c.appended.add(Number(m[1]));
        // The next NOOP must announce it, unless it is gone already (a server need not announce
        // a message expunged before it told the client about it): then UID FETCH finds nothing.
        await c.cmd('NOOP');
        await resolveUnknown(c);
        const uid = m ? Number(m[1]) : 0;
        if (uid && !c.view.includes(uid) && !c.expunged.has(uid)) {
          const tag = `s${c.id}x${++c.tag}`;
          const got = await c.conn.command(tag, [`${tag} UID FETCH ${uid} (UID)`], 30_000);
          for (const x of got) {
            if (x.tag !== '*') continue;
            if (new RegExp(`^\\d+ FETCH \\(.*UID ${uid}\\b`, 'i').test(x.text) && !c.view.includes(uid)) err(`${c.where()}: appended UID ${uid} exists but the NOOP after the APPEND did not announce it`);
            c.apply(x, 'UID FETCH');
          }
        }
        if (uid) c.appended.delete(uid);
      }
    } else if (r < 0.85) {
      kind = 'SEARCH';
      await c.cmd(random() < 0.5 ? 'SEARCH ALL' : `SEARCH ${random() < 0.5 ? 'UNSEEN' : 'KEYWORD ' + c.keyword}`);
    } else if (r < 0.89) {
      kind = 'NOOP';
      await c.cmd('NOOP');
    } else if (r < 0.91) {
      // IDLE: what is pushed while idling is applied like any response; DONE at once.
      kind = 'IDLE';
      const tag = `s${c.id}x${++c.tag}`;
      const got = [...(await c.conn.raw(`${tag} IDLE`, '+', 30_000)), ...(await c.conn.raw('DONE', tag, 30_000))];
      const tagged = got[got.length - 1];
      if (!tagged || tagged.tag !== tag || !/^OK/i.test(tagged.text)) err(`${c.where()}: IDLE ended with ${tagged ? tagged.tag + ' ' + tagged.text : 'nothing'}`);
      for (const x of got) if (x.tag === '*') c.apply(x, 'IDLE');
    } else if (r < 0.93) {
      // MOVE to the other mailbox: EXPUNGE (or VANISHED) for it here.
      kind = 'MOVE';
      const uid = pickUid(c);
      const to = boxes.find((b) => b !== c.selected) ?? c.selected;
      await c.cmd(uid ? `UID MOVE ${uid} ${to}` : 'NOOP', true);
    } else {
      kind = 'CHECK';
      await fullCheck(c);
    }
    byKind[kind] = (byKind[kind] ?? 0) + 1;
    await resolveUnknown(c);
  }

  /** Learns the UIDs of messages announced by EXISTS (FETCH by sequence number: no EXPUNGE meanwhile). */
  async function resolveUnknown(c: Client): Promise<void> {
    if (c.rebuild) {
      // A VANISHED named a UID the client had not learned yet while several were unknown: which
      // sequence number it was is unknowable, so the UIDs are learned again (as a client would).
      c.rebuild = false;
      c.view = c.view.map(() => 0);
    }
    const first = c.view.indexOf(0);
    if (first < 0) return;
    await c.cmd(`FETCH ${first + 1}:${c.view.length} (UID FLAGS)`);
  }

  await Promise.all(
    clients.map(async (c) => {
      if (c.qresync) await c.cmd('ENABLE QRESYNC');
      while (Date.now() < deadline && !c.conn.closed) {
        await step(c);
        commands++;
      }
      await fullCheck(c);
      await c.cmd('LOGOUT').catch(() => null);
      c.conn.close();
    }),
  );
  return { commands, errors, byKind };
}
