// The stress run with consistency checking (issue 12): a short run against `yubin serve` must
// report 0 errors (`npm run stress -- --seconds N` runs longer ones), and the checker itself is
// shown to catch each kind of divergence from crafted responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, runStress } from './consistency.js';
import { startYubinServer } from '../compliance/servers.js';
import type { RawImap } from '../compliance/client.js';

test('ten clients on shared mailboxes (SELECT, FETCH, STORE, EXPUNGE, APPEND, SEARCH) against yubin serve: 0 consistency errors', async () => {
  const s = await startYubinServer();
  try {
    const r = await runStress({ ...s.target, clients: 10, seconds: Number(process.env.STRESS_SECONDS ?? 4), seed: 7 });
    assert.deepEqual(r.errors, []);
    for (const kind of ['SELECT', 'FETCH', 'STORE', 'EXPUNGE', 'APPEND', 'SEARCH']) assert.ok((r.byKind[kind] ?? 0) > 0, `no ${kind} in ${JSON.stringify(r.byKind)}`);
    assert.ok(r.commands > 200, `only ${r.commands} commands`);
  } finally {
    await s.stop();
  }
});

function client(qresync = false): { c: Client; errors: string[] } {
  const errors: string[] = [];
  const c = new Client(3, {} as RawImap, qresync, (m) => errors.push(m));
  c.selected = 'box';
  return { c, errors };
}
const feed = (c: Client, lines: string[]) => lines.forEach((l) => c.apply({ tag: '*', text: l }, 'test'));

test('checker: sequence numbers never announced (FETCH, EXPUNGE, SEARCH), EXISTS going down', () => {
  const { c, errors } = client();
  feed(c, ['2 EXISTS', '1 FETCH (UID 5 FLAGS ())', '2 FETCH (UID 6 FLAGS ())']);
  assert.deepEqual(errors, []);
  feed(c, ['3 FETCH (UID 7 FLAGS ())']);
  feed(c, ['4 EXPUNGE']);
  feed(c, ['SEARCH 1 3']);
  feed(c, ['1 EXISTS']);
  assert.equal(errors.length, 4, errors.join('\n'));
  assert.match(errors[0]!, /FETCH 3 of a sequence number never announced/);
  assert.match(errors[1]!, /EXPUNGE 4/);
  assert.match(errors[2]!, /SEARCH names 3/);
  assert.match(errors[3]!, /EXISTS 1 below 2/);
});

test('checker: a UID at the wrong sequence number after an EXPUNGE, a UID twice', () => {
  const { c, errors } = client();
  feed(c, ['3 EXISTS', '1 FETCH (UID 5)', '2 FETCH (UID 6)', '3 FETCH (UID 7)', '1 EXPUNGE']);
  feed(c, ['1 FETCH (UID 6)', '2 FETCH (UID 7)']);
  assert.deepEqual(errors, []);
  feed(c, ['1 FETCH (UID 7)']);
  feed(c, ['3 EXISTS', '3 FETCH (UID 6)']);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0]!, /FETCH 1 says UID 7, the client has UID 6/);
  assert.match(errors[1]!, /UID 6 at two sequence numbers/);
});

test('checker: a keyword before FLAGS announced it; the own keyword reported stale', () => {
  const { c, errors } = client();
  feed(c, ['1 EXISTS', 'FLAGS (\\Seen $Forwarded)', '1 FETCH (UID 5 FLAGS (\\Seen $Forwarded))']);
  assert.deepEqual(errors, []);
  feed(c, ['1 FETCH (UID 5 FLAGS (other))']);
  assert.match(errors[0]!, /keyword other used before a FLAGS response announced it/);
  feed(c, ['FLAGS (own3)']);
  c.ownSet().add(5);
  feed(c, ['1 FETCH (UID 5 FLAGS (own3))']);
  // The first report of a message sets what is known (a MOVE brings the keyword along).
  feed(c, ['2 EXISTS', '2 FETCH (UID 9 FLAGS (own3))', '2 FETCH (UID 9 FLAGS (own3))']);
  assert.equal(errors.length, 1);
  feed(c, ['1 FETCH (UID 5 FLAGS ())']);
  assert.match(errors[1]!, /UID 5 reported without own3/);
  // While its STORE is in flight either state may be reported.
  c.pendingOwn.add(5);
  feed(c, ['1 FETCH (UID 5 FLAGS ())']);
  assert.equal(errors.length, 2);
});

test('checker: VANISHED with QRESYNC (EXPUNGE not allowed, a UID never announced), and with UIDs not learned yet', () => {
  const { c, errors } = client(true);
  feed(c, ['3 EXISTS', '1 FETCH (UID 5)', '2 FETCH (UID 6)', '3 FETCH (UID 7)', 'VANISHED 6', '2 FETCH (UID 7)']);
  assert.deepEqual(errors, []);
  feed(c, ['VANISHED 4']);
  feed(c, ['1 EXPUNGE']);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0]!, /VANISHED 4, a UID never announced/);
  assert.match(errors[1]!, /EXPUNGE after ENABLE QRESYNC/);
  // EXISTS then VANISHED of a UID the client has not fetched: the UIDs are learned again.
  const { c: d, errors: e2 } = client(true);
  feed(d, ['3 EXISTS', '1 FETCH (UID 5)', 'VANISHED 9']);
  assert.deepEqual(e2, []);
  assert.equal(d.rebuild, true);
  assert.equal(d.view.length, 2);
});

test('checker: MODSEQ going back or the same MODSEQ with other flags (a stale report)', () => {
  const { c, errors } = client(true);
  feed(c, ['1 EXISTS', '1 FETCH (UID 5 FLAGS () MODSEQ (10))', '1 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (12))', '1 FETCH (UID 5 FLAGS (\\Seen) MODSEQ (12))']);
  assert.deepEqual(errors, []);
  feed(c, ['1 FETCH (UID 5 FLAGS () MODSEQ (10))']);
  feed(c, ['1 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (12))']);
  assert.equal(errors.length, 2, errors.join('\n'));
  assert.match(errors[0]!, /MODSEQ 10 after 12/);
  assert.match(errors[1]!, /MODSEQ 12 reported with two flag sets/);
});
