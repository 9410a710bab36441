// CONDSTORE and QRESYNC (RFC 7162) with real clients against `yubin serve`: imapflow's `qresync`
// and `changedSince` options (a resync after another session's flag changes and expunges, a
// reconnecting client that gets only what changed) and a Thunderbird-style raw session
// (SELECT (CONDSTORE), then FETCH 1:* (FLAGS) (CHANGEDSINCE n)).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { ImapFlow } from 'imapflow';
import { startYubin, type YubinInstance } from '../helpers/server.js';

let y: YubinInstance;
const USER = 'carol@a.test';
const PASS = 'correct horse battery';

function msg(subject: string): string {
  return `From: Bob <bob@b.test>\r\nTo: ${USER}\r\nSubject: ${subject}\r\nDate: Tue, 3 Feb 2026 09:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@b.test>\r\n\r\nBody of ${subject}.\r\n`;
}

function client(qresync: boolean): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: y.port('imaps'), secure: true, auth: { user: USER, pass: PASS }, logger: false, tls: { rejectUnauthorized: false }, qresync });
}

before(async () => {
  y = await startYubin({ domains: ['a.test'], users: [{ address: USER, password: PASS }] });
});
after(async () => {
  await y?.destroy();
});

test('imapflow with qresync: live VANISHED and FETCH MODSEQ from another session, then a reconnect that gets only what changed', async () => {
  const a = client(true);
  const b = client(false);
  await a.connect();
  await b.connect();
  try {
    assert.ok(a.capabilities.has('CONDSTORE') && a.capabilities.has('QRESYNC'));
    assert.ok(a.enabled.has('QRESYNC'), 'ENABLE QRESYNC took');
    await a.mailboxCreate('Sync');
    const uids: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await a.append('Sync', msg(`sync ${i}`));
      assert.ok(r, 'APPEND failed');
      uids.push(r.uid!);
    }
    const box = await a.mailboxOpen('Sync');
    const uidValidity = box.uidValidity;
    const known = BigInt(box.highestModseq!);
    assert.ok(known > 0n);

    // Another session flags one message and expunges another while A has the mailbox open.
    const events: Array<{ kind: string; uid?: number; earlier?: boolean; flags?: string[]; modseq?: bigint }> = [];
    a.on('expunge', (e: { uid?: number; vanished: boolean; earlier?: boolean }) => events.push({ kind: e.vanished ? 'vanished' : 'expunge', uid: e.uid, earlier: e.earlier }));
    a.on('flags', (e: { uid?: number; flags: Set<string>; modseq?: bigint }) => events.push({ kind: 'flags', uid: e.uid, flags: [...e.flags], modseq: e.modseq }));
    await b.mailboxOpen('Sync');
    await b.messageFlagsAdd(String(uids[1]), ['\\Flagged'], { uid: true });
    await b.messageDelete(String(uids[2]), { uid: true });
    await a.noop();
    const flagged = events.find((e) => e.kind === 'flags' && e.uid === uids[1]);
    assert.ok(flagged && flagged.flags!.includes('\\Flagged') && flagged.modseq! > known, JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.ok(events.some((e) => e.kind === 'vanished' && e.uid === uids[2] && !e.earlier), 'VANISHED, not EXPUNGE, after ENABLE QRESYNC');
    await a.logout();

    // While A is away: more changes.
    await b.messageFlagsAdd(String(uids[4]), ['$Label1'], { uid: true });
    await b.messageDelete(`${uids[0]},${uids[5]}`, { uid: true });
    await b.append('Sync', msg('sync new'));

    // A reconnects with what it knew: SELECT (QRESYNC (uidvalidity modseq)).
    const a2 = client(true);
    const got: Array<{ kind: string; uid?: number; earlier?: boolean }> = [];
    a2.on('expunge', (e: { uid?: number; vanished: boolean; earlier?: boolean }) => got.push({ kind: e.vanished ? 'vanished' : 'expunge', uid: e.uid, earlier: e.earlier }));
    a2.on('flags', (e: { uid?: number }) => got.push({ kind: 'flags', uid: e.uid }));
    await a2.connect();
    try {
      // imapflow's mailboxOpen options: { uidValidity, changedSince } make SELECT (QRESYNC (uidvalidity modseq))
      const reopened = await a2.mailboxOpen('Sync', { uidValidity, changedSince: known } as unknown as { readOnly?: boolean });
      assert.equal(reopened.uidValidity, uidValidity);
      // Only what changed after `known`: every expunge since (as VANISHED (EARLIER)) and the flag changes
      const vanished = got.filter((e) => e.kind === 'vanished').map((e) => e.uid).sort((p, q) => p! - q!);
      assert.ok(got.filter((e) => e.kind === 'vanished').every((e) => e.earlier), JSON.stringify(got));
      assert.deepEqual(vanished, [uids[0], uids[2], uids[5]]);
      const flagUids = got.filter((e) => e.kind === 'flags').map((e) => e.uid);
      assert.ok(flagUids.includes(uids[4]) && flagUids.includes(uids[1]), JSON.stringify(got));
      assert.ok(!flagUids.includes(uids[3]), 'an unchanged message is not reported');
      // UID FETCH (CHANGEDSINCE n VANISHED) through imapflow's changedSince option
      const changed: number[] = [];
      for await (const m of a2.fetch('1:*', { flags: true }, { uid: true, changedSince: known })) changed.push(m.uid);
      assert.ok(changed.includes(uids[4]!) && changed.includes(uids[1]!) && !changed.includes(uids[3]!), JSON.stringify(changed));
    } finally {
      await a2.logout();
    }
  } finally {
    await b.logout().catch(() => {});
    if (a.usable) await a.logout().catch(() => {});
  }
});

test('Thunderbird-style: SELECT (CONDSTORE), then FETCH 1:* (FLAGS) (CHANGEDSINCE n) over IMAPS', async () => {
  const setup = client(false);
  await setup.connect();
  await setup.mailboxCreate('Tb');
  for (let i = 0; i < 3; i++) await setup.append('Tb', msg(`tb ${i}`));
  const sock = tlsConnect({ host: '127.0.0.1', port: y.port('imaps'), rejectUnauthorized: false });
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (buf += d));
  const waitTag = (tag: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${tag}: ${buf}`)), 10_000);
      const check = (): void => {
        const m = new RegExp(`(?:^|\\r\\n)${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`).exec(buf);
        if (!m) return;
        clearTimeout(timer);
        sock.off('data', check);
        const out = buf.slice(0, m.index + m[0].length);
        buf = buf.slice(m.index + m[0].length);
        resolve(out);
      };
      sock.on('data', check);
      check();
    });
  try {
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write(`l LOGIN ${USER} "${PASS}"\r\n`);
    assert.match(await waitTag('l'), /l OK/);
    sock.write('s SELECT Tb (CONDSTORE)\r\n');
    const sel = await waitTag('s');
    const hms = Number(/\[HIGHESTMODSEQ (\d+)\]/.exec(sel)![1]);
    await setup.mailboxOpen('Tb');
    await setup.messageFlagsAdd('2', ['\\Seen']);
    sock.write(`f FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms})\r\n`);
    const f = await waitTag('f');
    const fetches = f.split('\r\n').filter((l) => /^\* \d+ FETCH /.test(l));
    // The unsolicited report of the change and the answer both name only message 2, with MODSEQ
    assert.ok(fetches.length >= 1 && fetches.every((l) => /^\* 2 FETCH \(UID \d+ FLAGS \(\\Seen( \\Recent)?\) MODSEQ \(\d+\)\)$/.test(l)), f);
    assert.match(f, /f OK FETCH completed/);
    sock.write('o LOGOUT\r\n');
    await waitTag('o');
  } finally {
    sock.destroy();
    await setup.logout();
  }
});
