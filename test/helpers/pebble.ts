// Pebble (Let's Encrypt's test ACME server, Debian package "pebble") on loopback for the ACME
// tests: free ports, a throwaway certificate for its own HTTPS, its DNS pointed at the tests'
// DNS server, validations sent to the given http/https ports. Skips (returns null) without it.
//
//   const pebble = await startPebble({ dns: dns.address, httpPort, tlsPort });
//   ... config acme.directory = pebble.directory, acme.ca_file = pebble.caFile
//   const root = await pebble.root();   // verifies the certificates it issues
//   await pebble.stop(); await pebble.start();   // a CA outage
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import net from 'node:net';
import { generate } from 'selfsigned';

export const PEBBLE = '/usr/bin/pebble';

export interface Pebble {
  directory: string;
  /** PEM file of the certificate pebble's own HTTPS uses (give it to [acme] ca_file). */
  caFile: string;
  /** The root that issued the certificates of the current run (GET /roots/0, management port). */
  root(): Promise<string>;
  /** Stops pebble (a CA outage); start() brings it back on the same ports (with a new root). */
  stop(): Promise<void>;
  start(): Promise<void>;
  output(): string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

export async function startPebble(opts: { dns: string; httpPort: number; tlsPort: number; validitySeconds?: number }): Promise<Pebble | null> {
  if (!existsSync(PEBBLE)) return null;
  const dir = mkdtempSync(join(tmpdir(), 'pebble-'));
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 3_600_000),
    notAfterDate: new Date(Date.now() + 7 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  const caFile = join(dir, 'cert.pem');
  writeFileSync(caFile, pems.cert);
  writeFileSync(join(dir, 'key.pem'), pems.private);
  const port = await freePort();
  const mgmt = await freePort();
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${port}`,
      managementListenAddress: `127.0.0.1:${mgmt}`,
      certificate: caFile,
      privateKey: join(dir, 'key.pem'),
      httpPort: opts.httpPort,
      tlsPort: opts.tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(opts.validitySeconds ? { certificateValidityPeriod: opts.validitySeconds } : {}),
    },
  };
  writeFileSync(join(dir, 'pebble.json'), JSON.stringify(config));
  let child: ChildProcess | null = null;
  let out = '';
  const directory = `https://127.0.0.1:${port}/dir`;

  const start = async () => {
    const c = spawn(PEBBLE, ['-config', join(dir, 'pebble.json'), '-dnsserver', opts.dns], {
      env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    // Ready when the directory answers (pebble prints no machine-readable ready line).
    for (let i = 0; ; i++) {
      if (c.exitCode !== null) throw new Error(`pebble exited (${c.exitCode}):\n${out}`);
      try {
        if ((await get(directory, pems.cert)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (i > 200) throw new Error(`pebble did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    directory,
    caFile,
    output: () => out,
    async root() {
      const r = await get(`https://127.0.0.1:${mgmt}/roots/0`, pems.cert);
      if (r.status !== 200) throw new Error(`pebble /roots/0: ${r.status}`);
      return r.body;
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
