// RFC 5256 §2.1 base subject, §2.2 sent date, RFC 5051 i;unicode-casemap, RFC 5957 display values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseSubject, casemapKey, compareKeys, displayValue, sentDate, sortRows } from './sort.js';

test('base subject (RFC 5256 §2.1): each step, and whether it was a reply or forward', () => {
  const rows: Array<[string | null, string, boolean]> = [
    [null, '', false],
    ['', '', false],
    ['Hello', 'Hello', false],
    // (1) encoded words decoded, tabs and runs of spaces to one space
    ['=?UTF-8?B?R3LDvMOfZQ==?=', 'Grüße', false],
    ['Re: =?ISO-8859-1?Q?Caf=E9?= \t  au  lait', 'Café au lait', true],
    // (2) trailing "(fwd)" and WSP, repeatedly
    ['hello (fwd)', 'hello', true],
    ['hello (FWD) (fwd)  ', 'hello', true],
    ['hello(fwd)x', 'hello(fwd)x', false],
    // (3) subj-leader: *subj-blob subj-refwd, or WSP; re, fw, fwd in any case, WSP before ":"
    ['Re: hello', 'hello', true],
    ['RE:hello', 'hello', true],
    ['Fw: hello', 'hello', true],
    ['FWD : hello', 'hello', true],
    ['Re[2]: hello', 'hello', true],
    ['Re [2]: hello', 'hello', true],
    ['Re: Re: Fwd: hello', 'hello', true],
    ['[list] Re: hello', 'hello', true],
    ['[a][b] Re: [c] Re: hello', 'hello', true],
    ['Reply: hello', 'Reply: hello', false],
    ['Re hello', 'Re hello', false],
    // (4) a leading subj-blob goes when something is left
    ['[PATCH] hello', 'hello', false],
    ['[PATCH]', '[PATCH]', false],
    ['[PATCH] ', '[PATCH]', false],
    ['[a] [b] hello', 'hello', false],
    ['[a[b] hello', '[a[b] hello', false],
    // (5) repeat (3) and (4)
    ['[list] [x] Re: [y] hello', 'hello', true],
    // (6) "[fwd:" ... "]" removed, back to (2)
    ['[Fwd: hello]', 'hello', true],
    ['[fwd: Re: hello (fwd)]', 'hello', true],
    ['Re: [fwd: [list] hello ]', 'hello', true],
    ['[fwd: hello] x', 'x', false],
    ['[fwd:]', '', true],
  ];
  for (const [raw, subject, replyOrForward] of rows) assert.deepEqual(baseSubject(raw), { subject, replyOrForward }, JSON.stringify(raw));
});

test('i;unicode-casemap (RFC 5051): titlecase, NFKD, code point order', () => {
  assert.equal(casemapKey('abc'), 'ABC');
  assert.equal(casemapKey('Grüße'), casemapKey('GRÜßE'));
  // ß has no single-character titlecase mapping: it stays
  assert.equal(casemapKey('ß'), 'ß');
  // digraphs take their titlecase form, not the uppercase one
  assert.equal(casemapKey('ǆ'), casemapKey('Ǆ'));
  // compatibility decomposition: fullwidth letters equal ASCII ones, the precomposed é equals e + U+0301
  assert.equal(casemapKey('ｆｉｌｅ'), 'FILE');
  assert.equal(casemapKey('①'), '1');
  assert.equal(casemapKey('é'), casemapKey('e\u0301'));
  // code point order, not UTF-16: U+1F600 (a surrogate pair) sorts after U+FF5E
  assert.ok(compareKeys('\u{1F600}', '\uFF5E') > 0);
  assert.ok('\u{1F600}' < '\uFF5E', 'UTF-16 order would get this wrong');
  assert.ok(compareKeys('A', 'B') < 0);
  assert.ok(compareKeys('AB', 'A') > 0);
  assert.equal(compareKeys('X', 'X'), 0);
});

test('sent date (RFC 5256 §2.2): Date: in UTC, else INTERNALDATE', () => {
  const internal = new Date(Date.UTC(2020, 0, 1));
  const st = (date: string | null) => ({ envelope: { date } }) as Parameters<typeof sentDate>[0];
  assert.equal(sentDate(st('Mon, 2 Feb 2026 10:00:00 +0200'), internal), Date.UTC(2026, 1, 2, 8));
  assert.equal(sentDate(st('2 Feb 2026 10:00 EST'), internal), Date.UTC(2026, 1, 2, 15));
  // a zone that is not valid counts as UTC
  assert.equal(sentDate(st('Mon, 2 Feb 2026 10:00:00 XYZ'), internal), Date.UTC(2026, 1, 2, 10));
  assert.equal(sentDate(st('yesterday'), internal), internal.getTime());
  assert.equal(sentDate(st(null), internal), internal.getTime());
  assert.equal(sentDate(null, internal), internal.getTime());
});

test('display value (RFC 5957 §3): decoded display name, else the addr-spec, a group its name', () => {
  assert.equal(displayValue([{ name: '=?UTF-8?Q?J=C3=B6rg?=', adl: null, mailbox: 'j', host: 'b.test' }]), 'Jörg');
  assert.equal(displayValue([{ name: null, adl: null, mailbox: 'j', host: 'b.test' }]), 'j@b.test');
  assert.equal(displayValue([{ name: '  ', adl: null, mailbox: 'j', host: 'b.test' }]), 'j@b.test');
  assert.equal(displayValue([{ name: null, adl: null, mailbox: 'Team', host: null }, { name: null, adl: null, mailbox: null, host: null }]), 'Team');
  assert.equal(displayValue(null), '');
});

test('sortRows: REVERSE reverses its own key only; ties stay in sequence order', () => {
  const rows = () => [
    { uid: 1, values: [2, 'B'] },
    { uid: 2, values: [1, 'B'] },
    { uid: 3, values: [2, 'A'] },
    { uid: 4, values: [2, 'B'] },
  ];
  assert.deepEqual(sortRows(rows(), [{ key: 'SIZE', reverse: false }, { key: 'SUBJECT', reverse: false }]), [2, 3, 1, 4]);
  assert.deepEqual(sortRows(rows(), [{ key: 'SIZE', reverse: true }, { key: 'SUBJECT', reverse: false }]), [3, 1, 4, 2]);
  assert.deepEqual(sortRows(rows(), [{ key: 'SIZE', reverse: true }, { key: 'SUBJECT', reverse: true }]), [1, 4, 3, 2]);
});
