// Outbound DKIM: the keys of a local domain, the signer the queue uses, rotation without a break,
// and the signature verified by our own inbound checks through a real DNS server on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync, statSync, readdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { createResolver } from '../../src/dns/resolver.js';
import { validateConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/log/logger.js';
import { buildInboundChecks } from '../../src/checks/index.js';
import { createPipeline } from '../../src/pipeline/types.js';
import { closeChecksDbs } from '../../src/checks/db.js';
import { createDkimSigner } from '../../src/checks/dkim-sign.js';
import { dkimRecord, ensureDomainKeys, generateDomainKeys, listDomainKeys, retireDomainKey, rotateDomainKeys } from '../../src/checks/dkim-keys.js';
import type { Store } from '../../src/store/types.js';

let dns: TestDnsServer;
let dir: string;

before(async () => {
  dns = await startDnsServer();
  dir = mkdtempSync(join(tmpdir(), 'yubin-dkim-'));
  dns.setRecords('a.test', 'TXT', ['v=spf1 ip4:192.0.2.0/24 -all']);
  dns.setRecords('_dmarc.a.test', 'TXT', ['v=DMARC1; p=reject']);
});

after(async () => {
  closeChecksDbs();
  await dns.close();
  rmSync(dir, { recursive: true, force: true });
});

const fakeStore = { isLocalDomain: async (d: string) => d === 'a.test' || d === 'fwd.test' } as unknown as Store;
const MSG = 'From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: signed\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\nMessage-ID: <s1@a.test>\r\n\r\nBody line one.\r\nBody line two.\r\n';

function publish(dataDir: string, domain: string, selectors?: string[]): void {
  for (const k of listDomainKeys(dataDir, domain)) if (!selectors || selectors.includes(k.selector)) dns.setRecords(`${k.selector}._domainkey.${domain}`, 'TXT', [dkimRecord(k)]);
}

async function verify(signed: string): Promise<string> {
  const config = validateConfig({ hostname: 'mx.b.test', data_dir: join(dir, 'verify'), checks: { trusted_networks: [] } });
  const p = createPipeline(buildInboundChecks({ config, resolver: createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 }), store: fakeStore, logger: silentLogger() }));
  const path = join(dir, `m${Math.random().toString(36).slice(2)}.eml`);
  writeFileSync(path, signed);
  const v = await p.data({ listener: 'smtp', ip: '192.0.2.1', ptr: 'mail.a.test', tls: true, helo: 'mail.a.test', authenticated: null, mailFrom: 'alice@a.test', recipients: ['bob@b.test'], messagePath: path, size: signed.length });
  return (v.headers ?? []).find((h) => h.startsWith('Authentication-Results:'))!.replace(/\r\n\t/g, ' ');
}

test('keys: RSA-2048 and Ed25519 selectors, mode 0600, generate refuses twice, ensure is idempotent', () => {
  const dataDir = join(dir, 'keys');
  const now = new Date('2026-11-28T12:00:00Z');
  const keys = generateDomainKeys(dataDir, 'A.test', now);
  assert.deepEqual(
    keys.map((k) => [k.selector, k.algorithm]),
    [
      ['y20261128r', 'rsa-sha256'],
      ['y20261128e', 'ed25519-sha256'],
    ],
  );
  const kdir = join(dataDir, 'dkim', 'a.test');
  assert.equal(statSync(kdir).mode & 0o777, 0o700);
  for (const f of readdirSync(kdir)) assert.equal(statSync(join(kdir, f)).mode & 0o777, 0o600, f);
  assert.throws(() => generateDomainKeys(dataDir, 'a.test', now), /already has DKIM keys/);
  assert.equal(ensureDomainKeys(dataDir, 'a.test').length, 2);
  assert.match(dkimRecord(keys[0]!), /^v=DKIM1; k=rsa; p=[A-Za-z0-9+/]{300,}={0,2}$/);
  assert.match(dkimRecord(keys[1]!), /^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$/);
  // rotation on the same day gets distinct selectors; retiring the last key of an algorithm is refused
  const more = rotateDomainKeys(dataDir, 'a.test', now);
  assert.deepEqual(more.map((k) => k.selector), ['y20261128n2r', 'y20261128n2e']);
  assert.equal(listDomainKeys(dataDir, 'a.test').length, 4);
  retireDomainKey(dataDir, 'a.test', 'y20261128r');
  assert.throws(() => retireDomainKey(dataDir, 'a.test', 'y20261128n2r'), /last rsa-sha256 key/);
  assert.throws(() => retireDomainKey(dataDir, 'a.test', 'nope'), /no DKIM selector/);
  assert.throws(() => generateDomainKeys(dataDir, '../etc', now), /malformed domain/);
});

test('the signer signs with RSA and Ed25519; both verify (dkim=pass, dmarc=pass) through DNS', async () => {
  const dataDir = join(dir, 'sign');
  ensureDomainKeys(dataDir, 'a.test', new Date('2026-11-01T00:00:00Z'));
  publish(dataDir, 'a.test');
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dataDir, dns: { servers: [dns.address] } });
  const signer = createDkimSigner(config, fakeStore, silentLogger(), { resolver: createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 }) });
  const sig = await signer.sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(MSG)]) });
  assert.equal((sig.match(/^DKIM-Signature:/gm) ?? []).length, 2, sig);
  assert.ok(sig.endsWith('\r\n'));
  assert.match(sig, /a=rsa-sha256/);
  assert.match(sig, /a=ed25519-sha256/);
  // RFC 6376 §5.4: the signed header fields, none of the trace fields
  const h = /h=([^;]+);/.exec(sig.replace(/\r\n\s+/g, ''))![1]!.toLowerCase();
  for (const f of ['from', 'to', 'subject', 'date', 'message-id']) assert.ok(h.split(/\s*:\s*/).includes(f), h);
  assert.ok(!h.includes('received'));
  const ar = await verify(sig + MSG);
  assert.match(ar, /dkim=pass [^;]*header\.a=rsa-sha256/);
  assert.match(ar, /dkim=pass [^;]*header\.a=ed25519-sha256/);
  assert.match(ar, /dmarc=pass/);
  // not a local domain: nothing to sign with
  assert.equal(await signer.sign({ from: 'x@elsewhere.test', headerFromDomain: 'elsewhere.test', message: () => Readable.from([Buffer.from(MSG)]) }), '');
});

test('rotation: the old selectors keep signing until the new records are published', async () => {
  const dataDir = join(dir, 'rotate');
  const old = ensureDomainKeys(dataDir, 'a.test', new Date('2026-10-01T00:00:00Z'));
  publish(dataDir, 'a.test');
  const fresh = rotateDomainKeys(dataDir, 'a.test', new Date('2026-11-28T00:00:00Z'));
  const config = validateConfig({ hostname: 'mail.a.test', data_dir: dataDir });
  const signerFor = () => createDkimSigner(config, fakeStore, silentLogger(), { resolver: createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 }) });
  const selectors = (sig: string) => [...sig.replace(/\r\n\s+/g, '').matchAll(/s=([a-z0-9]+);/g)].map((m) => m[1]).sort();
  let sig = await signerFor().sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(MSG)]) });
  assert.deepEqual(selectors(sig), old.map((k) => k.selector).sort());
  assert.match(await verify(sig + MSG), /dkim=pass/);
  publish(dataDir, 'a.test', fresh.map((k) => k.selector));
  sig = await signerFor().sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(MSG)]) });
  assert.deepEqual(selectors(sig), fresh.map((k) => k.selector).sort());
  const ar = await verify(sig + MSG);
  assert.match(ar, /dkim=pass [^;]*header\.s=y20261128r/);
  assert.match(ar, /dkim=pass [^;]*header\.s=y20261128e/);
});

test('forwarded mail with a foreign From is signed by the envelope domain', async () => {
  const dataDir = join(dir, 'fwd');
  ensureDomainKeys(dataDir, 'fwd.test');
  const config = validateConfig({ hostname: 'mail.fwd.test', data_dir: dataDir });
  const signer = createDkimSigner(config, fakeStore, silentLogger(), { resolver: createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 }) });
  const sig = await signer.sign({ from: 'SRS0=abcd=xy=c.test=carol@fwd.test', headerFromDomain: 'c.test', message: () => Readable.from([Buffer.from(MSG)]) });
  assert.match(sig.replace(/\r\n\s+/g, ''), /d=fwd\.test;/);
});

test('forwarding through an alias: SRS makes SPF pass at the next hop, the ARC seal verifies', async () => {
  // a.test signs; fwd.test (192.0.2.200) receives it, then forwards it to b.test
  const aDir = join(dir, 'arc-a');
  ensureDomainKeys(aDir, 'a.test');
  publish(aDir, 'a.test');
  const fwdDir = join(dir, 'arc-fwd');
  ensureDomainKeys(fwdDir, 'fwd.test');
  publish(fwdDir, 'fwd.test');
  dns.setRecords('fwd.test', 'TXT', ['v=spf1 ip4:192.0.2.200 -all']);
  const resolver = createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 });
  const aSigner = createDkimSigner(validateConfig({ hostname: 'mail.a.test', data_dir: aDir }), fakeStore, silentLogger(), { resolver });
  const original = (await aSigner.sign({ from: 'alice@a.test', headerFromDomain: 'a.test', message: () => Readable.from([Buffer.from(MSG)]) })) + MSG;

  // inbound at fwd.test: our Authentication-Results are added
  const fwdConfig = validateConfig({ hostname: 'mx.fwd.test', data_dir: fwdDir, checks: { trusted_networks: [] } });
  const fwdChecks = createPipeline(buildInboundChecks({ config: fwdConfig, resolver, store: fakeStore, logger: silentLogger() }));
  const inPath = join(dir, 'arc-in.eml');
  writeFileSync(inPath, original);
  const v = await fwdChecks.data({ listener: 'smtp', ip: '192.0.2.1', ptr: 'mail.a.test', tls: true, helo: 'mail.a.test', authenticated: null, mailFrom: 'alice@a.test', recipients: ['list@fwd.test'], messagePath: inPath, size: original.length });
  assert.equal(v.action, 'accept');
  const received = v.headers!.map((h) => h + '\r\n').join('') + original;

  // forwarded: SRS envelope sender, ARC seal by fwd.test
  const { srsForward } = await import('../../src/forward/srs.js');
  const { arcSealForwarded } = await import('../../src/forward/arc-seal.js');
  const sender = srsForward('alice@a.test', { secret: 's', domain: 'fwd.test' });
  const seal = await arcSealForwarded({ config: fwdConfig, domain: 'fwd.test', message: () => Readable.from([Buffer.from(received)]) });
  assert.match(seal, /^ARC-Seal: i=1; /m);
  assert.match(seal, /^ARC-Message-Signature: i=1; /m);
  assert.match(seal, /^ARC-Authentication-Results: i=1; mx\.fwd\.test;/m);
  const forwarded = seal + received;

  const bConfig = validateConfig({ hostname: 'mx.b.test', data_dir: join(dir, 'arc-b'), checks: { trusted_networks: [] } });
  const bChecks = createPipeline(buildInboundChecks({ config: bConfig, resolver, store: fakeStore, logger: silentLogger() }));
  const outPath = join(dir, 'arc-out.eml');
  writeFileSync(outPath, forwarded);
  const w = await bChecks.data({ listener: 'smtp', ip: '192.0.2.200', ptr: 'mx.fwd.test', tls: true, helo: 'mx.fwd.test', authenticated: null, mailFrom: sender, recipients: ['bob@b.test'], messagePath: outPath, size: forwarded.length });
  const ar = w.headers!.find((h) => h.startsWith('Authentication-Results:'))!.replace(/\r\n\t/g, ' ');
  assert.match(ar, /spf=pass [^;]*smtp\.mailfrom=SRS0=/);
  assert.match(ar, /arc=pass/);
  assert.match(ar, /dkim=pass [^;]*header\.i=@a\.test/);
  assert.match(ar, /dmarc=pass/);
  assert.equal(w.action, 'accept');
});

test('an SRS sender in the host name is signed by the local parent domain', async () => {
  const dataDir = join(dir, 'fwd');
  const config = validateConfig({ hostname: 'mail.fwd.test', data_dir: dataDir });
  const signer = createDkimSigner(config, fakeStore, silentLogger(), { resolver: createResolver({ servers: [dns.address], timeoutMs: 400, tries: 1 }) });
  const sig = await signer.sign({ from: 'SRS0=abcd=xy=c.test=carol@mail.fwd.test', headerFromDomain: 'c.test', message: () => Readable.from([Buffer.from(MSG)]) });
  assert.match(sig.replace(/\r\n\s+/g, ''), /d=fwd\.test;/);
  assert.equal(await signer.sign({ from: 'x@mail.other.test', headerFromDomain: 'c.test', message: () => Readable.from([Buffer.from(MSG)]) }), '');
});
