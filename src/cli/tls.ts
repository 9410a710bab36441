// `yubin tls status`: the certificate of every name ACME manages (issuer, expiry, next renewal),
// the names skipped or failing with the reason, and the fallback ([tls] or self-signed) certificate.
// Reads data_dir/tls/acme (the certificates, and status.json written by the running server).
import type { Command } from 'commander';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { action, configOf, say } from './common.js';
import { acmeEnabled } from '../acme/names.js';
import { loadCerts, readStatus, renewalTime, type NameStatus } from '../acme/files.js';
import { selfSignedPaths } from '../net/tls.js';

const cn = (dn: string) => /(?:^|\n|, )CN=([^\n,]+)/.exec(dn)?.[1] ?? dn.replace(/\n/g, ', ');

export function register(program: Command): void {
  const tls = program.command('tls').description('TLS certificates');
  tls
    .command('status')
    .description('show each certificate name, issuer, expiry and next renewal, and the names skipped with the reason')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configOf(cmd);
        const enabled = acmeEnabled(config);
        const warnings: string[] = [];
        const stored = await loadCerts(config.data_dir, (path, err) => warnings.push(`${path}: ${err.message}`));
        const status = await readStatus(config.data_dir);
        const byName = new Map<string, NameStatus>();
        for (const n of status?.names ?? []) byName.set(n.name, n);
        // The files are the truth about certificates; status.json about skipped and failed names.
        for (const c of stored) {
          const s = byName.get(c.name);
          byName.set(c.name, {
            ...s,
            name: c.name,
            state: s?.state ?? 'issued',
            issuer: cn(c.leaf.issuer),
            expires: new Date(c.leaf.validTo).toISOString(),
            renewAt: renewalTime(c.leaf).toISOString(),
          });
        }
        const fallbackPath = config.tls ? config.tls.cert : selfSignedPaths(config.data_dir).cert;
        let fallback: { source: string; path: string; issuer?: string; expires?: string; error?: string };
        try {
          const leaf = new X509Certificate(await readFile(fallbackPath, 'utf8'));
          fallback = { source: config.tls ? 'config' : 'self-signed', path: fallbackPath, issuer: cn(leaf.issuer), expires: new Date(leaf.validTo).toISOString() };
        } catch (err) {
          fallback = { source: config.tls ? 'config' : 'self-signed', path: fallbackPath, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
        }
        const names = [...byName.values()];
        if (opts.json) {
          process.stdout.write(JSON.stringify({ acme: { enabled, directory: config.acme.directory, challenge: config.acme.challenge, updated: status?.updated ?? null, addresses: status?.addresses ?? [] }, names, fallback, warnings }, null, 2) + '\n');
          return;
        }
        say(`acme: ${enabled ? 'on' : 'off'} (directory ${config.acme.directory}, challenge ${config.acme.challenge})${status ? `; last checked ${status.updated}, this server is ${status.addresses.join(', ') || 'no address'}` : enabled ? '; the server has not checked yet' : ''}`);
        for (const n of names) {
          const parts = [n.name, n.state];
          if (n.issuer) parts.push(`issuer "${n.issuer}"`, `expires ${n.expires}`, `renews ${n.renewAt}`);
          if (n.reason) parts.push(`${n.state === 'skipped' ? 'skipped' : 'error'}: ${n.reason}`);
          if (n.nextAttempt) parts.push(`next attempt ${n.nextAttempt}`);
          say(parts.join('  '));
        }
        say(`fallback: ${fallback.source} ${fallback.path}  ${fallback.error ? `unreadable (${fallback.error})` : `issuer "${fallback.issuer}"  expires ${fallback.expires}`}`);
        for (const w of warnings) say(`warning: ${w}`);
      }),
    );
}
