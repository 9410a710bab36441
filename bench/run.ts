// `npm run bench`: runs every benchmark and prints each figure beside a peer or a physical
// limit measured in the same run (the disk's fsync rate, Postfix's smtp-sink, Debian's Dovecot).
// Usage: npm run bench [-- name...]   (names: store, smtp, relay, pop3, imap)
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const benches: Array<{ name: string; file: string; fn: string }> = [
  { name: 'store', file: 'store.ts', fn: 'benchStore' },
  { name: 'smtp', file: 'smtp.ts', fn: 'benchSmtp' },
  { name: 'relay', file: 'relay.ts', fn: 'benchRelay' },
  { name: 'pop3', file: 'pop3.ts', fn: 'benchPop3' },
  { name: 'imap', file: 'imap.ts', fn: 'benchImap' },
  { name: 'nodes', file: 'nodes.ts', fn: 'benchNodes' },
];

const wanted = process.argv.slice(2);
let failed = false;
for (const b of benches) {
  if (wanted.length && !wanted.includes(b.name)) continue;
  const path = join(here, b.file);
  if (!existsSync(path)) {
    console.log(`\n== ${b.name}: not present (bench/${b.file})`);
    continue;
  }
  console.log(`\n== ${b.name}`);
  try {
    const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    const fn = mod[b.fn];
    if (typeof fn !== 'function') throw new Error(`bench/${b.file} does not export ${b.fn}()`);
    await (fn as () => Promise<unknown>)();
  } catch (err) {
    failed = true;
    console.log(`${b.name}: FAILED: ${err instanceof Error ? err.stack : String(err)}`);
  }
}
process.exit(failed ? 1 : 0);
