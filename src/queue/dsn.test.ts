import { test } from 'node:test';
import assert from 'node:assert/strict';
import { composeDsn, wantsNotify, headerSection, headerFromDomain, rfc5322Date } from './dsn.js';
import { retryDelay } from './scheduler.js';
import { parseMessage } from '../message/parser.js';

const original = Buffer.from('Received: from x\r\nFrom: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\n\r\nsecret body\r\n');

test('failure DSN: multipart/report with one delivery-status block per recipient (RFC 3464)', () => {
  const { bytes, subject } = composeDsn({
    hostname: 'mail.a.test',
    to: 'alice@a.test',
    queueId: 'Q1',
    envid: 'env-42',
    arrivalDate: new Date(Date.UTC(2026, 10, 28, 12)),
    now: new Date(Date.UTC(2026, 10, 28, 13)),
    recipients: [
      { address: 'nobody@b.test', orcpt: { type: 'rfc822', address: 'nobody@b.test' }, action: 'failed', status: '5.1.1', remoteMta: 'mx.b.test', diagnostic: '550 5.1.1 no such user' },
      { address: 'carol@c.test', action: 'failed', status: '5.1.10', diagnostic: '556 5.1.10 domain c.test accepts no mail (null MX)' },
    ],
    original,
  });
  const text = bytes.toString('utf8');
  assert.equal(subject, 'Undelivered Mail Returned to Sender');
  assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@mail\.a\.test>\r\n/);
  assert.match(text, /\r\nTo: <alice@a\.test>\r\n/);
  assert.match(text, /\r\nAuto-Submitted: auto-replied\r\n/);
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
  assert.match(text, /\r\nReporting-MTA: dns; mail\.a\.test\r\n/);
  assert.match(text, /\r\nOriginal-Envelope-Id: env-42\r\n/);
  assert.match(text, /\r\nOriginal-Recipient: rfc822; nobody@b\.test\r\nFinal-Recipient: rfc822; nobody@b\.test\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.b\.test\r\nDiagnostic-Code: smtp; 550 5\.1\.1 no such user\r\n/);
  assert.match(text, /Final-Recipient: rfc822; carol@c\.test\r\nAction: failed\r\nStatus: 5\.1\.10\r\n/);
  assert.match(text, /Content-Type: text\/rfc822-headers\r\n\r\nReceived: from x\r\nFrom: Alice/);
  assert.doesNotMatch(text, /secret body/, 'RET=HDRS (default) returns headers only');
  assert.doesNotMatch(text.replace(/\r\n/g, ''), /[\r\n]/, 'CRLF only');
  // it parses as a message with three parts
  const s = parseMessage(bytes);
  assert.equal(s.root.type, 'multipart');
  assert.equal(s.root.subtype, 'report');
  assert.deepEqual(s.root.children!.map((c) => `${c.type}/${c.subtype}`), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
});

test('RET=FULL returns the whole message; delay reports only headers', () => {
  const base = { hostname: 'h.test', to: 'a@a.test', queueId: 'Q', arrivalDate: new Date(), now: new Date(), original };
  const full = composeDsn({ ...base, ret: 'FULL', recipients: [{ address: 'b@b.test', action: 'failed', status: '5.0.0' }] }).bytes.toString();
  assert.match(full, /Content-Type: message\/rfc822\r\n\r\nReceived: from x[\s\S]*secret body/);
  const delay = composeDsn({ ...base, ret: 'FULL', recipients: [{ address: 'b@b.test', action: 'delayed', status: '4.4.1', willRetryUntil: new Date(0) }] });
  assert.equal(delay.subject, 'Delayed Mail (still being retried)');
  assert.doesNotMatch(delay.bytes.toString(), /secret body/);
  assert.match(delay.bytes.toString(), /Will-Retry-Until: Thu, 1 Jan 1970 00:00:00 \+0000/);
});

test('UTF-8 headers travel as message/global-headers (RFC 6533)', () => {
  const d = composeDsn({
    hostname: 'h.test', to: 'a@a.test', queueId: 'Q', arrivalDate: new Date(), now: new Date(),
    original: Buffer.from('Subject: Grüße\r\n\r\nx\r\n'),
    recipients: [{ address: 'b@b.test', action: 'failed', status: '5.6.7' }],
  });
  assert.equal(d.needsUtf8, true);
  assert.match(d.bytes.toString(), /message\/global-delivery-status/);
  assert.match(d.bytes.toString(), /message\/global-headers/);
});

test('NOTIFY (RFC 3461 §4.1): default FAILURE,DELAY; NEVER means none', () => {
  assert.equal(wantsNotify({}, 'FAILURE'), true);
  assert.equal(wantsNotify({}, 'DELAY'), true);
  assert.equal(wantsNotify({}, 'SUCCESS'), false);
  assert.equal(wantsNotify({ notify: ['NEVER'] }, 'FAILURE'), false);
  assert.equal(wantsNotify({ notify: ['SUCCESS'] }, 'SUCCESS'), true);
  assert.equal(wantsNotify({ notify: ['SUCCESS'] }, 'FAILURE'), false);
});

test('header helpers', () => {
  assert.equal(headerSection(Buffer.from('A: 1\nB: 2\n\nbody')).toString(), 'A: 1\nB: 2\n\n');
  assert.equal(headerFromDomain(original), 'a.test');
  assert.equal(headerFromDomain(Buffer.from('From:\r\n x@Y.Test\r\n\r\n')), 'y.test');
  assert.equal(headerFromDomain(Buffer.from('To: x@y\r\n\r\n')), null);
  assert.equal(rfc5322Date(new Date(Date.UTC(2026, 10, 28, 9, 5, 3))), 'Sat, 28 Nov 2026 09:05:03 +0000');
});

test('back-off: retry_initial doubling to retry_max', () => {
  const m = 60_000;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => retryDelay(n, 5 * m, 240 * m) / m), [5, 10, 20, 40, 80, 160, 240, 240, 240]);
});
