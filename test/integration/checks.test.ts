// The inbound checks against a real DNS server on loopback serving SPF, DKIM, DMARC and DNSBL
// records: the Check stages are driven directly, the way the SMTP server calls them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { createResolver } from '../../src/dns/resolver.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildInboundChecks } from '../../src/checks/index.js';
import { createPipeline, type CheckData, type CheckPipeline, type CheckTransaction } from '../../src/pipeline/types.js';
import { closeChecksDbs } from '../../src/checks/db.js';
import type { Store } from '../../src/store/types.js';
import { dkimSignatures } from '../../src/checks/dkim-sign.js';
import type { DkimAlgorithm } from '../../src/checks/dkim-keys.js';

let dns: TestDnsServer;
let dir: string;
let n = 0;

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaOther = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const rsaPem = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const edPem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const pubB64 = (k: ReturnType<typeof generateKeyPairSync>['publicKey']): string => k.export({ type: 'spki', format: 'der' }).toString('base64');
// RFC 8463 §4.2: the Ed25519 key record carries the raw 32-octet public key.
const edRaw = ed.publicKey.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64');

const CLIENT = '192.0.2.10';

before(async () => {
  dns = await startDnsServer();
  dir = mkdtempSync(join(tmpdir(), 'yubin-checks-'));
  // SPF
  dns.setRecords('a.test', 'TXT', ['v=spf1 ip4:192.0.2.0/24 -all']);
  dns.setRecords('mail.a.test', 'TXT', ['v=spf1 ip4:192.0.2.10 -all']);
  dns.setRecords('mail.a.test', 'A', ['192.0.2.10']);
  dns.setRecords('soft.test', 'TXT', ['v=spf1 ip4:198.51.100.1 ~all']);
  dns.setRecords('neutral.test', 'TXT', ['v=spf1 ?all']);
  dns.setRecords('none.test', 'A', ['198.51.100.7']);
  dns.setRecords('fail.test', 'TXT', ['v=spf1 ip4:198.51.100.1 -all']);
  // RFC 7208 §4.6.4: more than 10 DNS-querying terms is permerror
  for (let i = 0; i < 12; i++) dns.setRecords(`l${i}.loop.test`, 'TXT', [`v=spf1 include:l${i + 1}.loop.test -all`]);
  dns.setRecords('loop.test', 'TXT', ['v=spf1 include:l0.loop.test -all']);
  dns.setRecords('l12.loop.test', 'TXT', ['v=spf1 -all']);
  dns.fail('broken.test', 'servfail');
  // DKIM
  dns.setRecords('rsa1._domainkey.a.test', 'TXT', [`v=DKIM1; k=rsa; p=${pubB64(rsa.publicKey)}`]);
  dns.setRecords('ed1._domainkey.a.test', 'TXT', [`v=DKIM1; k=ed25519; p=${edRaw}`]);
  dns.setRecords('wrong._domainkey.a.test', 'TXT', [`v=DKIM1; k=rsa; p=${pubB64(rsaOther.publicKey)}`]);
  for (const d of ['other.test', 'q.test', 'n.test']) dns.setRecords(`rsa1._domainkey.${d}`, 'TXT', [`v=DKIM1; k=rsa; p=${pubB64(rsa.publicKey)}`]);
  // DMARC
  dns.setRecords('_dmarc.a.test', 'TXT', ['v=DMARC1; p=reject']);
  dns.setRecords('q.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('_dmarc.q.test', 'TXT', ['v=DMARC1; p=quarantine']);
  dns.setRecords('n.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('_dmarc.n.test', 'TXT', ['v=DMARC1; p=none']);
  dns.setRecords('half.test', 'TXT', ['v=spf1 -all']);
  dns.setRecords('_dmarc.half.test', 'TXT', ['v=DMARC1; p=reject; pct=0']);
  dns.setRecords('other.test', 'TXT', ['v=spf1 ip4:192.0.2.10 -all']);
  // DNSBL: 192.0.2.66 is listed in bl.test
  dns.setRecords('66.2.0.192.bl.test', 'A', ['127.0.0.2']);
  dns.setRecords('66.2.0.192.bl.test', 'TXT', ['Listed for testing']);
});

after(async () => {
  closeChecksDbs();
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

function pipeline(checks: Record<string, unknown> = {}, opts: { now?: () => Date; random?: () => number } = {}): CheckPipeline {
  const config = validateConfig({ hostname: 'mx.b.test', data_dir: join(dir, `d${n++}`), dns: { servers: [dns.address] }, checks: { trusted_networks: [], ...checks } });
  const resolver = createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 });
  return createPipeline(buildInboundChecks({ config, resolver, store: {} as Store, logger: silentLogger(), ...opts }));
}

function message(from: string, extra = '', body = 'Hello there.\r\nSecond line.\r\n'): string {
  return `From: Alice <${from}>\r\nTo: bob@b.test\r\nSubject: hello\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <m${n}@a.test>\r\n${extra}\r\n${body}`;
}

async function sign(msg: string, domain: string, selector: string, key: string, algorithm: DkimAlgorithm = 'rsa-sha256'): Promise<string> {
  return (await dkimSignatures(msg, [{ domain, selector, privateKey: key, algorithm }])) + msg;
}

function data(raw: string, t: { mailFrom: string; helo?: string; ip?: string; recipients?: string[] }): CheckData {
  const messagePath = join(dir, `msg${n++}.eml`);
  writeFileSync(messagePath, raw);
  return {
    listener: 'smtp',
    ip: t.ip ?? CLIENT,
    ptr: 'mail.a.test',
    tls: true,
    helo: t.helo ?? 'mail.a.test',
    authenticated: null,
    mailFrom: t.mailFrom,
    recipients: t.recipients ?? ['bob@b.test'],
    messagePath,
    size: Buffer.byteLength(raw),
  };
}

function ar(headers: string[] | undefined): string {
  const h = (headers ?? []).find((x) => x.startsWith('Authentication-Results:'));
  assert.ok(h, 'an Authentication-Results header');
  return h.replace(/\r\n\t/g, ' ');
}

test('SPF results: pass, fail, softfail, neutral, none, permerror, temperror', async () => {
  const p = pipeline({ dmarc_enforce: false });
  const cases: Array<[string, string, string]> = [
    ['alice@a.test', CLIENT, 'spf=pass'],
    ['x@fail.test', CLIENT, 'spf=fail'],
    ['x@soft.test', CLIENT, 'spf=softfail'],
    ['x@neutral.test', CLIENT, 'spf=neutral'],
    ['x@none.test', CLIENT, 'spf=none'],
    ['x@loop.test', CLIENT, 'spf=permerror'],
    ['x@broken.test', CLIENT, 'spf=temperror'],
  ];
  for (const [from, ip, want] of cases) {
    const d = data(message(from), { mailFrom: from, ip });
    assert.equal((await p.mailFrom(d)).action, 'accept');
    const v = await p.data(d);
    const h = ar(v.headers);
    assert.ok(h.startsWith('Authentication-Results: mx.b.test;'), h);
    assert.match(h, new RegExp(`${want} .*smtp\\.mailfrom=${from.replace('.', '\\.')}`), `${from}: ${h}`);
  }
});

test('SPF for HELO is reported; a null sender is checked as postmaster@HELO', async () => {
  const p = pipeline({ dmarc_enforce: false });
  const d = data(message('alice@a.test'), { mailFrom: '', helo: 'mail.a.test' });
  const h = ar((await p.data(d)).headers);
  assert.match(h, /spf=pass .*smtp\.mailfrom=postmaster@mail\.a\.test/);
  assert.match(h, /spf=pass .*smtp\.helo=mail\.a\.test/);
  const bad = data(message('alice@a.test'), { mailFrom: 'alice@a.test', helo: 'mail.a.test', ip: '192.0.2.11' });
  assert.match(ar((await p.data(bad)).headers), /spf=fail .*smtp\.helo=mail\.a\.test/);
});

test('spf_fail_action = "reject" refuses at MAIL FROM with 550 5.7.23', async () => {
  const p = pipeline({ spf_fail_action: 'reject' });
  const v = await p.mailFrom(data('', { mailFrom: 'x@fail.test' }));
  assert.equal(v.action, 'reject');
  assert.equal(v.reply?.code, 550);
  assert.equal(v.reply?.enhanced, '5.7.23');
  assert.equal((await p.mailFrom(data('', { mailFrom: 'x@soft.test' }))).action, 'accept');
});

test('DKIM: valid RSA and Ed25519 signatures pass; body changed, wrong key and missing key do not', async () => {
  const p = pipeline();
  const msg = message('alice@a.test');
  let v = await p.data(data(await sign(msg, 'a.test', 'rsa1', rsaPem), { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=pass [^;]*header\.i=@a\.test [^;]*header\.s=rsa1 [^;]*header\.a=rsa-sha256/);
  assert.match(ar(v.headers), /dmarc=pass/);

  v = await p.data(data(await sign(msg, 'a.test', 'ed1', edPem, 'ed25519-sha256'), { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=pass [^;]*header\.s=ed1 [^;]*header\.a=ed25519-sha256/);

  const signed = await sign(msg, 'a.test', 'rsa1', rsaPem);
  v = await p.data(data(signed.replace('Second line.', 'Second line!'), { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=(fail|neutral) \(body hash did not verify\)/);

  v = await p.data(data(await sign(msg, 'a.test', 'wrong', rsaPem), { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=fail \(bad signature\) [^;]*header\.s=wrong/);

  v = await p.data(data(await sign(msg, 'a.test', 'missing', rsaPem), { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=neutral \(no key\) [^;]*header\.s=missing/);

  v = await p.data(data(msg, { mailFrom: 'alice@a.test' }));
  assert.match(ar(v.headers), /dkim=none/);
});

test('DMARC p=reject: aligned passes; unaligned fails with 550 5.7.1 at end of data', async () => {
  const p = pipeline();
  // aligned by SPF only
  let v = await p.data(data(message('alice@a.test'), { mailFrom: 'alice@a.test' }));
  assert.equal(v.action, 'accept');
  assert.match(ar(v.headers), /dmarc=pass/);
  // aligned by DKIM only (the envelope is another domain whose SPF passes)
  v = await p.data(data(await sign(message('alice@a.test'), 'a.test', 'rsa1', rsaPem), { mailFrom: 'x@other.test' }));
  assert.equal(v.action, 'accept');
  assert.match(ar(v.headers), /dmarc=pass/);
  // unaligned: SPF passes for other.test, DKIM signed by other.test, From: a.test
  v = await p.data(data(await sign(message('alice@a.test'), 'other.test', 'rsa1', rsaPem), { mailFrom: 'x@other.test' }));
  assert.equal(v.action, 'reject');
  assert.deepEqual(v.reply, { code: 550, enhanced: '5.7.1', text: 'Rejected by DMARC policy for a.test' });
  assert.match(ar(v.headers), /dmarc=fail/);
  // a forgery from an address SPF does not allow
  v = await p.data(data(message('alice@a.test'), { mailFrom: 'alice@a.test', ip: '203.0.113.9', helo: 'evil.example' }));
  assert.equal(v.action, 'reject');
});

test('DMARC p=quarantine failure goes to Junk, p=none is only reported, pct=0 applies the next policy down', async () => {
  const p = pipeline({ spam_threshold: 100 });
  let v = await p.data(data(message('x@q.test'), { mailFrom: 'x@q.test' }));
  assert.equal(v.action, 'quarantine');
  assert.match(ar(v.headers), /dmarc=fail/);
  v = await p.data(data(message('x@n.test'), { mailFrom: 'x@n.test' }));
  assert.equal(v.action, 'accept');
  assert.match(ar(v.headers), /dmarc=fail/);
  v = await p.data(data(message('x@half.test'), { mailFrom: 'x@half.test' }));
  assert.equal(v.action, 'quarantine', 'RFC 7489 §6.6.4: not sampled under p=reject means quarantine');
  // dmarc_enforce = false only reports
  const q = pipeline({ dmarc_enforce: false, spam_threshold: 100 });
  v = await q.data(data(message('alice@a.test'), { mailFrom: 'alice@a.test', ip: '203.0.113.9' }));
  assert.equal(v.action, 'accept');
  assert.match(ar(v.headers), /dmarc=fail/);
});

test('DMARC aligned under p=quarantine and p=none: delivered to the inbox', async () => {
  const p = pipeline();
  for (const d of ['q.test', 'n.test']) {
    const v = await p.data(data(await sign(message(`x@${d}`), d, 'rsa1', rsaPem), { mailFrom: `x@${d}` }));
    assert.equal(v.action, 'accept', d);
    assert.match(ar(v.headers), /spf=fail/);
    assert.match(ar(v.headers), /dmarc=pass/);
  }
});

test('DMARC pct sampling uses the random source', async () => {
  dns.setRecords('_dmarc.pct.test', 'TXT', ['v=DMARC1; p=reject; pct=50']);
  dns.setRecords('pct.test', 'TXT', ['v=spf1 -all']);
  const low = pipeline({ spam_threshold: 100 }, { random: () => 0.2 });
  assert.equal((await low.data(data(message('x@pct.test'), { mailFrom: 'x@pct.test' }))).action, 'reject');
  const high = pipeline({ spam_threshold: 100 }, { random: () => 0.7 });
  assert.equal((await high.data(data(message('x@pct.test'), { mailFrom: 'x@pct.test' }))).action, 'quarantine');
});

test('a forged Authentication-Results claiming our hostname is removed, others are kept', async () => {
  const p = pipeline();
  const v = await p.data(data(message('alice@a.test', 'Authentication-Results: mx.b.test; dkim=pass header.d=a.test\r\n'), { mailFrom: 'alice@a.test' }));
  const rule = v.removeHeaders?.find((r) => r.name === 'authentication-results');
  assert.ok(rule?.when);
  assert.equal(rule.when(' mx.b.test; dkim=pass header.d=a.test'), true);
  assert.equal(rule.when(' MX.B.TEST (forged) 1; spf=pass'), true);
  assert.equal(rule.when(' mx.a.test; spf=pass smtp.mailfrom=a.test'), false);
  // incoming X-Spam headers are replaced by ours
  assert.ok(v.removeHeaders?.some((r) => r.name === 'x-spam-status' && !r.when));
  assert.ok(v.removeHeaders?.some((r) => r.name === 'x-spam-score' && !r.when));
});

test('spam score: X-Spam headers, Junk at the threshold, refusal at the reject threshold', async () => {
  // SPF fail (3) + no DKIM (0.5) + DMARC fail (3) on p=none: 6.5 (HELO is a FQDN, PTR present)
  let p = pipeline({ spam_threshold: 5 });
  let v = await p.data(data(message('x@n.test'), { mailFrom: 'x@n.test' }));
  assert.equal(v.action, 'quarantine');
  assert.ok(v.headers?.includes('X-Spam-Score: 6.5'), String(v.headers));
  assert.ok(v.headers?.some((h) => /^X-Spam-Status: Yes, score=6\.5 required=5\.0 tests=SPF_FAIL,DKIM_NONE,DMARC_FAIL$/.test(h)), String(v.headers));
  p = pipeline({ spam_threshold: 7 });
  v = await p.data(data(message('x@n.test'), { mailFrom: 'x@n.test' }));
  assert.equal(v.action, 'accept');
  assert.ok(v.headers?.some((h) => h.startsWith('X-Spam-Status: No, score=6.5')));
  p = pipeline({ spam_threshold: 5, spam_reject_threshold: 6 });
  v = await p.data(data(message('x@n.test'), { mailFrom: 'x@n.test' }));
  assert.equal(v.action, 'reject');
  assert.equal(v.reply?.code, 550);
  // a clean, signed, aligned message scores below zero
  p = pipeline();
  v = await p.data(data(await sign(message('alice@a.test'), 'a.test', 'rsa1', rsaPem), { mailFrom: 'alice@a.test' }));
  assert.ok(v.headers?.includes('X-Spam-Score: -1.5'), String(v.headers));
});

test('DNSBL: a listed client is refused at connect with 554 5.7.1 naming the list', async () => {
  const p = pipeline({ dnsbl_zones: ['bl.test'] });
  const v = await p.connect({ listener: 'smtp', ip: '192.0.2.66', tls: false });
  assert.equal(v.action, 'reject');
  assert.equal(v.reply?.code, 554);
  assert.equal(v.reply?.enhanced, '5.7.1');
  assert.match(v.reply!.text, /bl\.test: Listed for testing/);
  assert.equal((await p.connect({ listener: 'smtp', ip: '192.0.2.67', tls: false })).action, 'accept');
  // not on submission, not for trusted networks
  assert.equal((await p.connect({ listener: 'submission', ip: '192.0.2.66', tls: false })).action, 'accept');
  const trusted = pipeline({ dnsbl_zones: ['bl.test'], trusted_networks: ['192.0.2.0/24'] });
  assert.equal((await trusted.connect({ listener: 'smtp', ip: '192.0.2.66', tls: false })).action, 'accept');
  // a list that does not answer is skipped (fail open)
  dns.fail('66.2.0.192.down.test', 'servfail');
  const down = pipeline({ dnsbl_zones: ['down.test'] });
  assert.equal((await down.connect({ listener: 'smtp', ip: '192.0.2.66', tls: false })).action, 'accept');
});

test('greylisting: unknown triplet deferred 451 4.7.1, retry after the delay passes, known senders pass', async () => {
  let clock = Date.parse('2026-11-28T10:00:00Z');
  const p = pipeline({ greylist: true, greylist_delay: '5m', enabled: false }, { now: () => new Date(clock) });
  const t: CheckTransaction = { listener: 'smtp', ip: '192.0.2.20', tls: false, helo: 'mail.a.test', authenticated: null, mailFrom: 'alice@a.test', recipients: [] };
  let v = await p.rcptTo(t, 'bob@b.test');
  assert.equal(v.action, 'tempfail');
  assert.equal(v.reply?.code, 451);
  assert.equal(v.reply?.enhanced, '4.7.1');
  clock += 60_000;
  assert.equal((await p.rcptTo(t, 'bob@b.test')).action, 'tempfail', 'too early');
  clock += 4 * 60_000 + 1;
  assert.equal((await p.rcptTo(t, 'bob@b.test')).action, 'accept', 'retried after 5 minutes');
  assert.equal((await p.rcptTo(t, 'bob@b.test')).action, 'accept', 'known triplet');
  // the same sender domain from the same network is known now, for other recipients and senders
  assert.equal((await p.rcptTo({ ...t, ip: '192.0.2.21', mailFrom: 'carol@a.test' }, 'dave@b.test')).action, 'accept');
  // another domain is not
  assert.equal((await p.rcptTo({ ...t, mailFrom: 'x@other.test' }, 'bob@b.test')).action, 'tempfail');
  // authenticated sessions are never greylisted
  assert.equal((await p.rcptTo({ ...t, mailFrom: 'y@other.test', authenticated: 'bob@b.test' }, 'x@c.test')).action, 'accept');
  // a first attempt not retried within the retry window is forgotten
  clock += 3 * 86_400_000;
  const u = { ...t, ip: '198.51.100.5', mailFrom: 'z@zz.test' };
  assert.equal((await p.rcptTo(u, 'bob@b.test')).action, 'tempfail');
  clock += 3 * 86_400_000;
  assert.equal((await p.rcptTo(u, 'bob@b.test')).action, 'tempfail', 'retry window passed: starts over');
});

test('rate limits: messages and recipients per hour per IP, per sender and per user; 451 4.7.1', async () => {
  let clock = Date.parse('2026-11-28T10:00:00Z');
  const p = pipeline(
    { enabled: false, ratelimit_ip_messages: 2, ratelimit_ip_recipients: 3, ratelimit_sender_messages: 100, ratelimit_user_messages: 1, ratelimit_user_recipients: 2 },
    { now: () => new Date(clock) },
  );
  const t: CheckTransaction = { listener: 'smtp', ip: '192.0.2.30', tls: false, helo: 'mail.a.test', authenticated: null, mailFrom: 'alice@a.test', recipients: [] };
  const d = (x: CheckTransaction): CheckData => ({ ...x, messagePath: '/nonexistent', size: 1 });
  for (let i = 0; i < 2; i++) {
    assert.equal((await p.mailFrom(t)).action, 'accept');
    assert.equal((await p.rcptTo(t, 'bob@b.test')).action, 'accept');
    assert.equal((await p.data(d(t))).action, 'accept');
  }
  let v = await p.mailFrom(t);
  assert.equal(v.action, 'tempfail');
  assert.deepEqual([v.reply?.code, v.reply?.enhanced], [451, '4.7.1']);
  assert.match(v.reply!.text, /messages/);
  // recipients: 2 used, 1 left
  assert.equal((await p.rcptTo(t, 'c@b.test')).action, 'accept');
  v = await p.rcptTo(t, 'd@b.test');
  assert.equal(v.action, 'tempfail');
  assert.match(v.reply!.text, /recipients/);
  // another IP is not limited
  assert.equal((await p.mailFrom({ ...t, ip: '192.0.2.31' })).action, 'accept');
  // the window slides: two hours later all is allowed again
  clock += 2 * 3_600_000;
  assert.equal((await p.mailFrom(t)).action, 'accept');
  // submission: per authenticated user
  const s = { ...t, listener: 'submission', authenticated: 'bob@b.test' };
  assert.equal((await p.mailFrom(s)).action, 'accept');
  assert.equal((await p.rcptTo(s, 'x@c.test')).action, 'accept');
  assert.equal((await p.rcptTo(s, 'y@c.test')).action, 'accept');
  assert.equal((await p.rcptTo(s, 'z@c.test')).action, 'tempfail');
  await p.data(d(s));
  assert.equal((await p.mailFrom(s)).action, 'tempfail');
});

test('per-user spam thresholds put the message in Junk for that recipient only', async () => {
  const { openSpamPrefs } = await import('../../src/checks/index.js');
  const config = validateConfig({ hostname: 'mx.b.test', data_dir: join(dir, 'prefs'), checks: { trusted_networks: [], spam_threshold: 10 } });
  const prefs = openSpamPrefs(config.data_dir);
  prefs.setThreshold('Strict@b.test', 2);
  const resolver = createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 });
  const p = createPipeline(buildInboundChecks({ config, resolver, store: {} as Store, logger: silentLogger() }));
  const v = await p.data(data(message('x@soft.test'), { mailFrom: 'x@soft.test', recipients: ['strict@b.test', 'bob@b.test'] }));
  assert.equal(v.action, 'accept');
  assert.deepEqual(v.quarantineRecipients, ['strict@b.test']);
  // a threshold in the config file, for users without one of their own
  const cfg2 = validateConfig({ hostname: 'mx.b.test', data_dir: join(dir, 'prefs'), checks: { trusted_networks: [], spam_threshold: 10, user_spam_thresholds: { 'Carol@b.test': 1 } } });
  const p2 = createPipeline(buildInboundChecks({ config: cfg2, resolver, store: {} as Store, logger: silentLogger() }));
  const w = await p2.data(data(message('x@soft.test'), { mailFrom: 'x@soft.test', recipients: ['carol@b.test', 'bob@b.test', 'strict@b.test'] }));
  assert.deepEqual(w.quarantineRecipients, ['carol@b.test', 'strict@b.test']);
  prefs.recordVerdict('bob@b.test', 'abc', 'spam');
  assert.equal(prefs.listVerdicts('bob@b.test')[0]?.verdict, 'spam');
});

test('a check that takes longer than the timeout does not hold the session (fail open)', async () => {
  const p = pipeline({ timeout: '300ms', dmarc_enforce: false });
  dns.fail('slow.test', 'timeout');
  const started = Date.now();
  const v = await p.data(data(message('x@slow.test'), { mailFrom: 'x@slow.test' }));
  assert.ok(Date.now() - started < 2000);
  assert.equal(v.action, 'accept');
  // forged Authentication-Results are removed even so
  assert.ok(v.removeHeaders?.some((r) => r.name === 'authentication-results' && r.when?.(' mx.b.test; spf=pass')));
  const q = pipeline({ timeout: '300ms', timeout_action: 'tempfail' });
  const w = await q.data(data(message('x@slow.test'), { mailFrom: 'x@slow.test' }));
  assert.equal(w.action, 'tempfail');
  assert.equal(w.reply?.code, 451);
});

test('a client claiming our own host name in EHLO scores HELO_IS_OURS', async () => {
  const p = pipeline({ dmarc_enforce: false });
  const v = await p.data(data(message('alice@a.test'), { mailFrom: 'alice@a.test', helo: 'MX.B.TEST' }));
  assert.ok(v.headers?.some((h) => /^X-Spam-Status: .*tests=.*HELO_IS_OURS/.test(h)), String(v.headers));
});

test('DNS failures: DKIM key and DMARC record lookups that fail are temperror, and the mail is accepted', async () => {
  dns.fail('rsa1._domainkey.tmp.test', 'servfail');
  dns.setRecords('tmp.test', 'TXT', ['v=spf1 -all']);
  dns.fail('_dmarc.tmp.test', 'servfail');
  const p = pipeline({ spam_threshold: 100 });
  const v = await p.data(data(await sign(message('x@tmp.test'), 'tmp.test', 'rsa1', rsaPem), { mailFrom: 'x@tmp.test' }));
  assert.equal(v.action, 'accept');
  assert.match(ar(v.headers), /dkim=temperror/);
  assert.match(ar(v.headers), /dmarc=temperror/);
});
