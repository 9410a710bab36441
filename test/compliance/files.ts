// The compliance scripts: test/compliance/scripts/<rfc>/<name>.imap, in name order.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SCRIPTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scripts');

export function scriptFiles(dir = SCRIPTS_DIR): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...scriptFiles(p));
    else if (name.endsWith('.imap')) out.push(p);
  }
  return out;
}
