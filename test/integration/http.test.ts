// The HTTP side as a user runs it (`yubin serve` with a config file): autoconfig for a local
// domain and 404 for a foreign one, the http→https redirect and its exceptions, MTA-STS chosen
// by Host, Outlook autodiscover, the Apple profile, /metrics, /healthz and /readyz. Fetched with
// curl (as clients do, including Host/SNI names over --resolve) and Node's fetch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startYubin, type YubinInstance } from '../helpers/server.js';
import { parsePlist, parseXml, kid, kids } from '../helpers/documents.js';
import { checkExposition, promtoolCheck } from '../helpers/prometheus.js';
import { ImapFlow } from 'imapflow';
import { LineClient } from '../helpers/lineclient.js';
import { validateAutoconfig, validateAutodiscover, validateMobileconfig } from '../helpers/client-config-formats.js';
import { until } from '../helpers/mail.js';

const run = promisify(execFile);
let y: YubinInstance;

before(async () => {
  y = await startYubin({
    hostname: 'mail.example.test',
    domains: ['example.test'],
    users: [{ address: 'alice@example.test', password: 'correct horse battery' }],
    config: { mta_sts: { mode: 'enforce', max_age: 86400 } },
  });
});
after(() => y?.destroy());

interface CurlResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** curl with -k (the self-signed certificate); names resolve to the listener's address. */
async function curl(url: string, opts: { method?: string; data?: string; resolve?: string[]; headers?: string[] } = {}): Promise<CurlResult> {
  const args = ['-sk', '-D', '-', '--max-time', '20', ...(opts.method ? ['-X', opts.method] : []), ...(opts.data !== undefined ? ['--data-binary', opts.data] : [])];
  for (const r of opts.resolve ?? []) args.push('--resolve', r);
  for (const h of opts.headers ?? []) args.push('-H', h);
  const { stdout } = await run('curl', [...args, url], { maxBuffer: 1 << 20 });
  const end = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of head.slice(1)) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: Number(head[0]!.split(' ')[1]), headers, body: stdout.slice(end + 4) };
}

const http = (path: string) => `http://127.0.0.1:${y.port('http')}${path}`;
const named = (name: string) => [`${name}:${y.port('https')}:127.0.0.1`];
const https = (name: string, path: string) => `https://${name}:${y.port('https')}${path}`;

test('Thunderbird autoconfig over http names the listening endpoints and the full address', async () => {
  for (const path of ['/mail/config-v1.1.xml', '/.well-known/autoconfig/mail/config-v1.1.xml']) {
    const r = await curl(http(`${path}?emailaddress=alice%40example.test`));
    assert.equal(r.status, 200, r.body);
    assert.match(r.headers['content-type']!, /^application\/xml/);
    const root = parseXml(r.body);
    assert.deepEqual(validateAutoconfig(root), [], 'valid clientConfig 1.1');
    // the validator does fail on what Thunderbird would not read
    assert.notDeepEqual(validateAutoconfig(parseXml(r.body.replace('<socketType>SSL<', '<socketType>TLS<'))), []);
    assert.notDeepEqual(validateAutoconfig(parseXml(r.body.replace(/<username>[^<]*<\/username>/, ''))), []);
    assert.notDeepEqual(validateAutoconfig(parseXml(r.body.replace('<displayName>', '<displayname>x</displayname><displayName>'))), []);
    assert.equal(root.tag, 'clientConfig');
    assert.equal(root.attrib.version, '1.1');
    const provider = kid(root, 'emailProvider');
    assert.equal(kid(provider, 'domain').text, 'example.test');
    const incoming = kids(provider, 'incomingServer');
    assert.deepEqual(
      incoming.map((s) => [s.attrib.type, kid(s, 'hostname').text, Number(kid(s, 'port').text), kid(s, 'socketType').text, kid(s, 'username').text]),
      [
        ['imap', 'mail.example.test', y.port('imaps'), 'SSL', 'alice@example.test'],
        ['imap', 'mail.example.test', y.port('imap'), 'STARTTLS', 'alice@example.test'],
        ['pop3', 'mail.example.test', y.port('pop3s'), 'SSL', 'alice@example.test'],
        ['pop3', 'mail.example.test', y.port('pop3'), 'STARTTLS', 'alice@example.test'],
      ],
    );
    const outgoing = kids(provider, 'outgoingServer');
    assert.deepEqual(
      outgoing.map((s) => [s.attrib.type, Number(kid(s, 'port').text), kid(s, 'socketType').text, kid(s, 'authentication').text]),
      [
        ['smtp', y.port('submissions'), 'SSL', 'password-cleartext'],
        ['smtp', y.port('submission'), 'STARTTLS', 'password-cleartext'],
      ],
    );
  }
});

test('autoconfig: the domain from the Host header, a foreign domain 404, a bad address 400', async () => {
  const byHost = await curl(http('/mail/config-v1.1.xml'), { headers: ['Host: autoconfig.example.test'] });
  assert.equal(byHost.status, 200);
  assert.equal(kid(kid(kid(parseXml(byHost.body), 'emailProvider'), 'incomingServer'), 'username').text, '%EMAILADDRESS%');
  assert.equal((await curl(http('/mail/config-v1.1.xml?emailaddress=bob%40foreign.test'))).status, 404);
  assert.equal((await curl(http('/mail/config-v1.1.xml'), { headers: ['Host: autoconfig.foreign.test'] })).status, 404);
  assert.equal((await curl(http('/mail/config-v1.1.xml?emailaddress=nobody'))).status, 400);
  assert.equal((await curl(http('/mail/config-v1.1.xml?emailaddress=a%00b%40example.test'))).status, 400);
});

test('an address full of XML metacharacters comes back exactly, in a document that still parses', async () => {
  const evil = `"</username><x a='1'>&amp;"@example.test`;
  const r = await curl(https('autoconfig.example.test', `/mail/config-v1.1.xml?emailaddress=${encodeURIComponent(evil)}`), { resolve: named('autoconfig.example.test') });
  assert.equal(r.status, 200, r.body);
  for (const s of kids(kid(parseXml(r.body), 'emailProvider'), 'incomingServer')) assert.equal(kid(s, 'username').text, evil);
  const m = await curl(https('mail.example.test', `/apple/mobileconfig?emailaddress=${encodeURIComponent(evil)}`), { resolve: named('mail.example.test') });
  assert.equal(m.status, 200);
  const profile = parsePlist(m.body) as { PayloadContent: Array<Record<string, unknown>> };
  assert.equal(profile.PayloadContent[0]!.IncomingMailServerUsername, evil);
});

test('plain http redirects to https except ACME challenges and autoconfig', async () => {
  const r = await curl(http('/autodiscover/autodiscover.xml?x=1'), { headers: ['Host: autodiscover.example.test'] });
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, `https://autodiscover.example.test:${y.port('https')}/autodiscover/autodiscover.xml?x=1`);
  const sts = await curl(http('/.well-known/mta-sts.txt'), { headers: ['Host: mta-sts.example.test'] });
  assert.equal(sts.status, 308);
  // A Host that is not a name is not echoed into the Location.
  const bad = await curl(http('/x'), { headers: ['Host: under_score.test'] });
  assert.equal(bad.headers.location, `https://mail.example.test:${y.port('https')}/x`);
  const acme = await curl(http('/.well-known/acme-challenge/unknownToken'));
  assert.equal(acme.status, 404);
  assert.equal(acme.headers.location, undefined);
  // Node's fetch follows nothing here: it sees the redirect itself.
  const f = await fetch(http('/'), { redirect: 'manual' });
  assert.equal(f.status, 308);
});

test('MTA-STS policy by Host over https; 404 for a host that is not mta-sts.<local domain>', async () => {
  const r = await curl(https('mta-sts.example.test', '/.well-known/mta-sts.txt'), { resolve: named('mta-sts.example.test') });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type']!, /^text\/plain/);
  assert.equal(r.body, 'version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n');
  assert.equal((await curl(https('mta-sts.foreign.test', '/.well-known/mta-sts.txt'), { resolve: named('mta-sts.foreign.test') })).status, 404);
  assert.equal((await curl(https('mail.example.test', '/.well-known/mta-sts.txt'), { resolve: named('mail.example.test') })).status, 404);
  // dns-records prints the matching _mta-sts id and the TLS-RPT record.
  const dns = await y.cli(['dns-records', 'example.test']);
  assert.match(dns.stdout, /_mta-sts\.example\.test\.\s+3600\s+IN\s+TXT\s+"v=STSv1; id=[0-9a-f]{20}"/);
  assert.match(dns.stdout, /_smtp\._tls\.example\.test\.\s+3600\s+IN\s+TXT\s+"v=TLSRPTv1; rua=mailto:postmaster@example\.test"/);
  assert.match(dns.stdout, /mode: enforce/);
});

test('Outlook autodiscover (POX) answers IMAP, POP3 and SMTP with the login name; both path spellings', async () => {
  const request = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;
  for (const path of ['/autodiscover/autodiscover.xml', '/Autodiscover/Autodiscover.xml']) {
    const r = await curl(https('autodiscover.example.test', path), { method: 'POST', data: request, resolve: named('autodiscover.example.test'), headers: ['Content-Type: text/xml'] });
    assert.equal(r.status, 200, r.body);
    const root = parseXml(r.body);
    assert.deepEqual(validateAutodiscover(root), [], 'valid POX response (2006a)');
    assert.notDeepEqual(validateAutodiscover(parseXml(r.body.replace('<Encryption>SSL<', '<Encryption>STARTTLS<'))), []);
    assert.notDeepEqual(validateAutodiscover(parseXml(r.body.replace(/<Server>[^<]*<\/Server>/, ''))), []);
    assert.notDeepEqual(validateAutodiscover(parseXml(r.body.replace(/ xmlns="[^"]*2006a"/, ''))), [], 'Response in the outlook namespace');
    assert.equal(root.tag, '{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover');
    const response = kid(root, 'Response');
    assert.equal(response.tag, '{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}Response');
    const account = kid(response, 'Account');
    assert.equal(kid(account, 'AccountType').text, 'email');
    assert.equal(kid(account, 'Action').text, 'settings');
    assert.deepEqual(
      kids(account, 'Protocol').map((p) => [kid(p, 'Type').text, Number(kid(p, 'Port').text), kid(p, 'Encryption').text, kid(p, 'LoginName').text]),
      [
        ['IMAP', y.port('imaps'), 'SSL', 'alice@example.test'],
        ['POP3', y.port('pop3s'), 'SSL', 'alice@example.test'],
        ['SMTP', y.port('submissions'), 'SSL', 'alice@example.test'],
      ],
    );
  }
  const foreign = await curl(https('autodiscover.example.test', '/autodiscover/autodiscover.xml'), { method: 'POST', data: request.replace('example.test', 'foreign.test'), resolve: named('autodiscover.example.test') });
  assert.equal(foreign.status, 404);
  const entity = await curl(https('autodiscover.example.test', '/autodiscover/autodiscover.xml'), {
    method: 'POST',
    data: '<!DOCTYPE a [<!ENTITY x "alice@example.test">]><Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>',
    resolve: named('autodiscover.example.test'),
  });
  assert.equal(entity.status, 400);
});

test('Apple configuration profile: content type and a com.apple.mail.managed payload', async () => {
  const r = await curl(https('mail.example.test', '/apple/mobileconfig?emailaddress=alice%40example.test'), { resolve: named('mail.example.test') });
  assert.equal(r.status, 200);
  assert.match(r.headers['content-type']!, /^application\/x-apple-aspen-config/);
  assert.deepEqual(validateMobileconfig(r.body), [], 'the profile and its mail payload have their required keys, typed');
  // the validator does fail on a missing required key, a wrongly typed value, an unknown key
  assert.notDeepEqual(validateMobileconfig(r.body.replace('<key>OutgoingMailServerHostName</key>', '<key>OutgoingMailServerHost</key>')), []);
  assert.notDeepEqual(validateMobileconfig(r.body.replace(/<key>IncomingMailServerPortNumber<\/key>\s*<integer>(\d+)<\/integer>/, '<key>IncomingMailServerPortNumber</key><string>$1</string>')), []);
  assert.notDeepEqual(validateMobileconfig(r.body.replace('<string>com.apple.mail.managed</string>', '<string>com.apple.mail</string>')), []);
  const p = parsePlist(r.body) as Record<string, unknown> & { PayloadContent: Array<Record<string, unknown>> };
  assert.equal(p.PayloadType, 'Configuration');
  assert.equal(p.PayloadVersion, 1);
  assert.match(String(p.PayloadUUID), /^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-A[0-9A-F]{3}-[0-9A-F]{12}$/);
  const mail = p.PayloadContent[0]!;
  assert.equal(mail.PayloadType, 'com.apple.mail.managed');
  assert.equal(mail.EmailAccountType, 'EmailTypeIMAP');
  assert.equal(mail.IncomingMailServerHostName, 'mail.example.test');
  assert.equal(mail.IncomingMailServerPortNumber, y.port('imaps'));
  assert.equal(mail.IncomingMailServerUseSSL, true);
  assert.equal(mail.OutgoingMailServerPortNumber, y.port('submissions'));
  assert.equal(mail.IncomingMailServerUsername, 'alice@example.test');
  assert.equal((await curl(https('mail.example.test', '/apple/mobileconfig?emailaddress=bob%40foreign.test'), { resolve: named('mail.example.test') })).status, 404);
});

test('admin listener: /healthz, /readyz, and /metrics in the Prometheus text format with real counts', async () => {
  const admin = `http://127.0.0.1:${y.port('admin')}`;
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  const ready = await fetch(`${admin}/readyz`);
  assert.equal(ready.status, 200, await ready.text());
  // A failed login shows up in the counters (and its connection in the imaps counts).
  const imap = new ImapFlow({ host: '127.0.0.1', port: y.port('imaps'), secure: true, auth: { user: 'alice@example.test', pass: 'wrong password' }, logger: false, tls: { rejectUnauthorized: false } });
  imap.on('error', () => undefined);
  await assert.rejects(imap.connect());
  const res = await fetch(`${admin}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.deepEqual(checkExposition(text), []);
  const promtool = promtoolCheck(text);
  if (promtool) assert.ok(promtool.ok, promtool.output);
  assert.match(text, /^yubin_connections_total\{listener="imaps"\} [1-9]/m);
  assert.match(text, /^yubin_auth_attempts_total\{protocol="imap",result="failure"\} [1-9]/m);
  assert.match(text, /^yubin_queue_messages 0$/m);
  assert.match(text, /^yubin_certificate_expiry_timestamp_seconds\{name="mail\.example\.test"\} \d{10}$/m);
  assert.match(text, /^yubin_event_loop_delay_seconds\{stat="p99"\} /m);
  assert.match(text, /^yubin_event_loop_delay_seconds\{stat="max"\} /m);
  assert.match(text, /^yubin_connections_total\{listener="admin"\} [1-9]/m);
  // The admin routes are not on the public listeners.
  assert.equal((await curl(https('mail.example.test', '/metrics'), { resolve: named('mail.example.test') })).status, 404);
  assert.equal((await curl(http('/metrics'))).status, 308);
});

/** The value of one sample of /metrics (null when absent). */
async function sample(series: string): Promise<number | null> {
  const text = await (await fetch(`http://127.0.0.1:${y.port('admin')}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? null : Number(line.slice(series.length + 1));
}

test('/metrics: sessions by protocol state (IMAP, POP3, SMTP) as they change, store latency, the worker pool', async () => {
  const imap = await LineClient.connect(y.port('imaps'), '127.0.0.1', { tls: true });
  const pop = await LineClient.connect(y.port('pop3s'), '127.0.0.1', { tls: true });
  const smtp = await LineClient.connect(y.port('smtp'));
  try {
    await imap.waitFor(/^\* OK.*\r\n/);
    await pop.waitFor(/^\+OK.*\r\n/);
    await smtp.smtpReply();
    await until('the sessions before login', async () =>
      (await sample('yubin_sessions{listener="imaps",state="notauth"}')) === 1 &&
      (await sample('yubin_sessions{listener="pop3s",state="authorization"}')) === 1 &&
      (await sample('yubin_sessions{listener="smtp",state="idle"}')) === 1,
    );
    assert.equal(await sample('yubin_sessions{listener="imaps",state="selected"}'), 0);
    assert.equal(await sample('yubin_sessions{listener="smtp",state="transaction"}'), 0);

    imap.write('a LOGIN alice@example.test "correct horse battery"\r\n');
    await imap.waitFor(/^a OK/m);
    assert.equal(await sample('yubin_sessions{listener="imaps",state="auth"}'), 1);
    imap.write('b SELECT INBOX\r\n');
    await imap.waitFor(/^b OK/m);
    pop.write('USER alice@example.test\r\n');
    await pop.waitFor(/^\+OK.*\r\n/);
    pop.write('PASS correct horse battery\r\n');
    await pop.waitFor(/^\+OK.*\r\n/);
    assert.match(await smtp.smtp('EHLO client.example.test'), /^250/);
    assert.match(await smtp.smtp('MAIL FROM:<>'), /^250/);
    assert.equal(await sample('yubin_sessions{listener="imaps",state="selected"}'), 1);
    assert.equal(await sample('yubin_sessions{listener="imaps",state="notauth"}'), 0);
    assert.equal(await sample('yubin_sessions{listener="pop3s",state="transaction"}'), 1);
    assert.equal(await sample('yubin_sessions{listener="smtp",state="transaction"}'), 1);
    assert.equal(await sample('yubin_sessions{listener="smtp",state="idle"}'), 0);
    assert.match(await smtp.smtp('RSET'), /^250/);
    assert.equal(await sample('yubin_sessions{listener="smtp",state="idle"}'), 1, 'RSET ends the transaction');

    // The logins and the SELECT went through the store, timed per operation.
    const text = await (await fetch(`http://127.0.0.1:${y.port('admin')}/metrics`)).text();
    assert.deepEqual(checkExposition(text), []);
    const promtool = promtoolCheck(text);
    if (promtool) assert.ok(promtool.ok, promtool.output);
    assert.match(text, /^# TYPE yubin_store_operation_duration_seconds histogram$/m);
    assert.match(text, /^yubin_store_operation_duration_seconds_count\{op="getAccount"\} [1-9]/m);
    assert.match(text, /^yubin_store_operation_duration_seconds_bucket\{le="\+Inf",op="getMailbox"\} [1-9]/m);
    assert.match(text, /^yubin_store_operation_duration_seconds_sum\{op="getMailbox"\} \d/m);
    // The worker pool as configured (threads) and its job counts.
    assert.match(text, /^yubin_worker_threads [1-9]\d*$/m);
    assert.match(text, /^yubin_worker_jobs_queued 0$/m);
    assert.match(text, /^yubin_worker_jobs_total\{outcome="completed"\} \d+$/m);
  } finally {
    for (const c of [imap, pop, smtp]) c.socket.destroy();
  }
  await until('the sessions closed', async () =>
    (await sample('yubin_sessions{listener="imaps",state="selected"}')) === 0 &&
    (await sample('yubin_sessions{listener="pop3s",state="transaction"}')) === 0 &&
    (await sample('yubin_sessions{listener="smtp",state="idle"}')) === 0,
  );
});

test('a non-loopback admin address stops `yubin serve` with a message naming it (nothing is bound there)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'yubin-http-admin-'));
  try {
    await assert.rejects(startYubin({ dir, listen: { admin: ['0.0.0.0:0'] } }), /listen\.admin: 0\.0\.0\.0:0 is not a loopback address/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
