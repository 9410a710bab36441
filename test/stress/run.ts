// The ten-client stress run with consistency checking (test/stress/consistency.ts) against
// `yubin serve`, and with --dovecot against Debian's Dovecot too (the reference: the checker
// itself must find nothing there):
//   npm run stress -- --seconds 60 [--clients 10] [--seed 12] [--dovecot] [--verbose]
// Exit status 1 when Yubin has a consistency error.
import { runStress } from './consistency.js';
import { startDovecotServer, startYubinServer, type RunningServer } from '../compliance/servers.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const seconds = opt('--seconds', 30);
const clients = opt('--clients', 10);
const seed = opt('--seed', 12);
const verbose = args.includes('--verbose');
let failed = false;
for (const name of args.includes('--dovecot') ? ['yubin', 'dovecot'] : ['yubin']) {
  const s: RunningServer | string = name === 'yubin' ? await startYubinServer() : await startDovecotServer();
  if (typeof s === 'string') {
    console.log(`${name}: not run (${s})`);
    continue;
  }
  try {
    const r = await runStress({ ...s.target, clients, seconds, seed, log: verbose ? (l) => console.log(`  ${name}: ${l}`) : undefined });
    console.log(`${name}: ${clients} clients, ${seconds} s, ${r.commands} commands (${Object.entries(r.byKind).map(([k, v]) => `${k} ${v}`).join(', ')}), ${r.errors.length} errors`);
    for (const e of r.errors.slice(0, 20)) console.log(`  ${e}`);
    if (name === 'yubin' && r.errors.length) failed = true;
  } finally {
    await s.stop();
  }
}
process.exit(failed ? 1 : 0);
