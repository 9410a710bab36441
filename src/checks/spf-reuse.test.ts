// SPF results are used again for SPF_REUSE_MS: the MAIL FROM result at the data stage, and both
// results for the next transactions of the same client, HELO and sender; not past that, not for
// another sender, never a temperror.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../config/load.js';
import { createResolver } from '../dns/resolver.js';
import { silentLogger } from '../log/logger.js';
import { startDnsServer } from '../../test/helpers/dns-server.js';
import type { Store } from '../store/types.js';
import type { CheckData } from './types.js';
import { authenticationCheck, SPF_REUSE_MS } from './authentication-check.js';

const dns = await startDnsServer();
after(() => dns.close());
dns.setRecords('example.net', 'TXT', ['v=spf1 ip4:192.0.2.1 -all']);
dns.setRecords('other.net', 'TXT', ['v=spf1 ip4:192.0.2.1 -all']);
dns.setRecords('client.example.net', 'TXT', ['v=spf1 a -all']);
dns.setRecords('client.example.net', 'A', ['192.0.2.1']);

test('one SPF evaluation per client, HELO and sender within SPF_REUSE_MS; results unchanged', async () => {
  let ms = Date.parse('2026-11-30T12:00:00Z');
  const config = validateConfig({ hostname: 'mx.b.test', data_dir: '/nonexistent' });
  // no answer cache: every SPF evaluation shows as DNS queries
  const check = authenticationCheck({ config, resolver: createResolver({ servers: [dns.address], cache: false }), store: {} as Store, logger: silentLogger() }, () => new Date(ms), () => null);
  const tx = (mailFrom: string): CheckData => ({
    listener: 'smtp',
    ip: '192.0.2.1',
    ptr: 'client.example.net',
    tls: false,
    helo: 'client.example.net',
    authenticated: null,
    mailFrom,
    recipients: ['bob@b.test'],
    messagePath: null,
    messageBytes: Buffer.from(`From: a@${mailFrom.split('@')[1]}\r\nSubject: x\r\n\r\nhi\r\n`),
    size: 40,
  });
  const run = async (mailFrom: string) => {
    const t = tx(mailFrom);
    await check.mailFrom!(t);
    const v = await check.data!(t);
    return (v.headers ?? []).join('\n');
  };
  const q0 = dns.queries;
  const first = await run('a@example.net');
  const asked = dns.queries - q0;
  assert.match(first, /spf=pass .*smtp\.mailfrom=a@example\.net/);
  assert.match(first, /spf=pass .*smtp\.helo=client\.example\.net/);
  const q1 = dns.queries;
  ms += SPF_REUSE_MS - 1000;
  assert.equal(await run('a@example.net'), first, 'the same Authentication-Results');
  const again = dns.queries - q1;
  // only DMARC's question is asked again (it is not SPF)
  assert.ok(again < asked, `SPF not evaluated again (${again} queries against ${asked})`);
  const q2 = dns.queries;
  await run('a@other.net');
  assert.ok(dns.queries - q2 > again, 'another sender: its own SPF evaluation');
  const q3 = dns.queries;
  ms += SPF_REUSE_MS;
  await run('a@example.net');
  assert.equal(dns.queries - q3, asked, 'after SPF_REUSE_MS: evaluated again');
});
