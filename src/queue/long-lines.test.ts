// The queue relays a message with lines over 998 octets (accepted inbound up to
// smtp.max_line_length) without ever sending such a line: the parts are re-encoded before DKIM
// signing, so the signature verifies (mailauth) and the decoded content is the original.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth';
import { loopbackResolver, startDnsServer, type TestDnsServer } from '../../test/helpers/dns-server.js';
import { ScriptedRemote, until } from '../../test/integration/outbound-helpers.js';
import { validateConfig } from '../config/load.js';
import { openStore } from '../store/index.js';
import { silentLogger } from '../log/logger.js';
import { openQueue } from './index.js';
import { createDkimSigner } from '../checks/dkim-sign.js';
import { dkimRecord, ensureDomainKeys, listDomainKeys } from '../checks/dkim-keys.js';
import { parseMessage } from '../message/parser.js';
import type { MimePart } from '../message/types.js';

let dns: TestDnsServer;
before(async () => {
  dns = await startDnsServer();
  dns.setRecords('b.test', 'MX', ['10 mx.b.test']);
  dns.setRecords('mx.b.test', 'A', ['127.0.0.1']);
});
after(() => dns.close());

/** An independent quoted-printable decoder (RFC 2045 §6.7), the oracle for the content. */
function qpDecode(s: string): Buffer {
  return Buffer.from(s.replace(/[ \t]+\r\n/g, '\r\n').replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
}

function decodedBody(raw: Buffer, p: MimePart): Buffer {
  const body = raw.subarray(p.bodyStart, p.bodyEnd).toString('latin1');
  if (p.encoding === 'QUOTED-PRINTABLE') return qpDecode(body);
  if (p.encoding === 'BASE64') return Buffer.from(body, 'base64');
  return Buffer.from(body, 'latin1');
}

const longText = 'word '.repeat(999) + 'end'; // 4,998 octets, one line
const binary = Buffer.alloc(5000);
for (let i = 0; i < binary.length; i++) binary[i] = 0x20 + ((i * 7) % 90); // printable, no line end: one 5,000-octet line
const MSG = [
  'From: Alice <alice@a.test>',
  'To: bob@b.test',
  'Subject: long lines',
  `X-Long: ${'v '.repeat(1200)}end`, // a 2,411-octet header line with white space to fold at
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  'preamble',
  '--b1',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  `${longText}`,
  'a second line, short',
  '--b1',
  'Content-Type: application/octet-stream',
  '',
  binary.toString('latin1'),
  '--b1--',
  '',
].join('\r\n');

/** A queue (optionally with the DKIM signer of a.test, keys published) relaying to a scripted remote. */
async function relayEnv(sign: boolean) {
  const remote = await new ScriptedRemote().listen();
  const dir = mkdtempSync(join(tmpdir(), 'yubin-ll-'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dir, dns: { servers: [dns.address], timeout: 500 }, queue: { remote_port: remote.port, retry_initial: '1h' } });
  const store = await openStore(dir);
  await store.addDomain('a.test');
  await store.addAccount('alice@a.test', 'x');
  const resolver = loopbackResolver(dns.address);
  let signer;
  if (sign) {
    for (const k of ensureDomainKeys(dir, 'a.test')) dns.setRecords(`${k.selector}._domainkey.a.test`, 'TXT', [dkimRecord(k)]);
    signer = createDkimSigner(config, store, silentLogger(), { resolver });
  }
  const queue = await openQueue({ config, store, resolver, logger: silentLogger(), now: () => new Date() }, { startScheduler: true, pollMs: 50, ...(signer ? { signer } : {}) });
  return {
    remote,
    dir,
    store,
    async send(message: string): Promise<string> {
      const blob = await store.blobs.stage(Buffer.from(message, 'latin1'));
      try {
        return await queue.enqueue({ from: 'alice@a.test', recipients: [{ address: 'bob@b.test' }], blob });
      } finally {
        await store.blobs.discard(blob);
      }
    },
    async close(): Promise<void> {
      await queue.stop(1000);
      await store.close();
      await remote.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test('a message with 5,000-octet lines is relayed with every line within 998 octets, DKIM-signed over what is sent', async () => {
  const { remote, dir, store, send, close } = await relayEnv(true);
  try {
    await send(MSG);
    await until('the relayed message', () => remote.messages.length > 0);
    const received = remote.messages[0]!;
    const wire = Buffer.from(received, 'utf8');
    // RFC 5321 §4.5.3.1.6: every line on the wire (with its stuffed dot) within 998 octets + CRLF
    for (const line of received.split('\r\n')) assert.ok(Buffer.byteLength(line) + (line.startsWith('.') ? 1 : 0) <= 998, `a line of ${line.length} octets went out`);
    // the signature covers what was sent and verifies
    const v = await dkimVerify(wire, {
      resolver: async (name: string, type: string) => {
        const k = listDomainKeys(dir, 'a.test').find((x) => `${x.selector}._domainkey.a.test` === name);
        if (type !== 'TXT' || !k) throw Object.assign(new Error('no record'), { code: 'ENOTFOUND' });
        return [[dkimRecord(k)]];
      },
    } as unknown as Parameters<typeof dkimVerify>[1]);
    const results = (v as unknown as { results: Array<{ status: { result: string } }> }).results;
    assert.ok(results.length >= 1);
    for (const r of results) assert.equal(r.status.result, 'pass', JSON.stringify(r.status));
    // the content, decoded, is the original; the structure and the folded header are intact
    const s = parseMessage(wire);
    const [text, bin] = s.root.children!;
    assert.equal(text!.encoding, 'QUOTED-PRINTABLE');
    assert.equal(text!.params['charset'], 'utf-8');
    assert.equal(decodedBody(wire, text!).toString('latin1'), `${longText}\r\na second line, short`);
    assert.equal(bin!.encoding, 'BASE64');
    assert.ok(decodedBody(wire, bin!).equals(binary));
    const unfolded = received.replace(/\r\n(?=[ \t])/g, '');
    assert.ok(unfolded.includes(`X-Long: ${'v '.repeat(1200)}end\r\n`), 'the long header field is folded, not changed');
    assert.ok(received.includes('\r\npreamble\r\n--b1\r\n'));
    // the stored copy was never changed: the queue file is gone (delivered), the size was declared anew
    const mail = remote.commands.find((c) => c.startsWith('MAIL FROM'))!;
    const declared = Number(/SIZE=(\d+)/.exec(mail)?.[1] ?? NaN);
    if (!Number.isNaN(declared)) assert.notEqual(declared, Buffer.byteLength(MSG, 'latin1'));
  } finally {
    await close();
  }
});

test('a header line over 998 octets without white space to fold at is bounced, never sent', async () => {
  const { remote, store, send, close } = await relayEnv(false);
  try {
    const msg = `From: alice@a.test\r\nTo: bob@b.test\r\nX-Token: ${'t'.repeat(3000)}\r\n\r\nbody\r\n`;
    const id = await send(msg);
    // the DSN reaches alice's INBOX with the reason
    const acct = (await store.getAccount('alice@a.test'))!;
    const box = (await store.getMailbox(acct.id, 'INBOX'))!;
    await until('the DSN', async () => (await store.listMessages(box.id)).length > 0);
    const dsn = (await store.blobs.read((await store.listMessages(box.id))[0]!.blobId)).toString('utf8');
    assert.match(dsn, /Status: 5\.6\.3/);
    assert.match(dsn.replace(/\r\n[ \t]+/g, ' '), /X-Token has a line over 998 octets that cannot be folded/);
    assert.equal(remote.messages.length, 0, 'nothing was sent');
    assert.ok(id);
  } finally {
    await close();
  }
});

test('mayHaveLongLine: never false for a message with a line over 998 octets (random messages against an exact scan); true for 999', async () => {
  const { mayHaveLongLine } = await import('./deliver-remote.js');
  const exact = (b: Buffer): boolean => b.toString('latin1').split('\n').some((l) => l.replace(/\r$/, '').length > 998);
  const perLine = (b: Buffer): boolean => b.toString('latin1').split('\n').some((l) => l.length > 998);
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let i = 0; i < 300; i++) {
    const lines = Array.from({ length: 1 + rnd(6) }, () => 'x'.repeat(rnd(4) === 0 ? 990 + rnd(20) : rnd(100)) + ['\r\n', '\n', ''][rnd(3)]);
    const b = Buffer.from(lines.join(''), 'latin1');
    if (exact(b)) assert.equal(mayHaveLongLine(b), true, JSON.stringify(lines.map((l) => l.length)));
    // the same answer as a search for each LF (a line's length counts its CR)
    assert.equal(mayHaveLongLine(b), perLine(b), JSON.stringify(lines.map((l) => l.length)));
  }
  assert.equal(mayHaveLongLine(Buffer.from('a'.repeat(999) + '\r\nb\r\n')), true);
  assert.equal(mayHaveLongLine(Buffer.from('b\r\n' + 'a'.repeat(999))), true);
  assert.equal(mayHaveLongLine(Buffer.from('a'.repeat(998) + '\nb\r\n' + 'c'.repeat(998))), false);
});
