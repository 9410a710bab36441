// Every command and test the interpreter knows, by name, and the capabilities `require` accepts.
import type { CommandDef, ExtensionDef, TestDef } from './runtime.js';
import { base } from './base.js';
import { fileinto } from './fileinto.js';
import { reject } from './reject.js';
import { envelope } from './envelope.js';
import { imap4flags } from './imap4flags.js';
import { variables } from './variables.js';
import { vacation } from './vacation.js';
import { body } from './body.js';
import { date } from './date.js';
import { mailbox } from './mailbox.js';
import { editheader } from './editheader.js';
import { duplicate } from './duplicate.js';
import { include } from './include.js';
import { spamtest } from './spamtest.js';
import { environment } from './environment.js';

const EXTENSIONS: ExtensionDef[] = [
  base,
  fileinto,
  reject,
  envelope,
  imap4flags,
  variables,
  vacation,
  body,
  date,
  mailbox,
  editheader,
  duplicate,
  include,
  spamtest,
  environment,
  // Capabilities that only add tags or match types (their code is in match.ts, message.ts, ...).
  { capabilities: ['encoded-character', 'relational', 'subaddress', 'copy', 'regex', 'comparator-i;octet', 'comparator-i;ascii-casemap', 'comparator-i;ascii-numeric', 'comparator-i;unicode-casemap'] },
];

export const COMMANDS = new Map<string, CommandDef>();
export const TESTS = new Map<string, TestDef>();
export const CAPABILITIES = new Set<string>();
/** Capabilities another one brings with it. */
export const IMPLIED: Record<string, string[]> = {
  // RFC 5235 §3.2: spamtestplus includes spamtest.
  spamtestplus: ['spamtest'],
  // RFC 6131 §2: vacation-seconds extends vacation.
  'vacation-seconds': ['vacation'],
};

for (const e of EXTENSIONS) {
  for (const c of e.capabilities) CAPABILITIES.add(c);
  for (const [n, d] of Object.entries(e.commands ?? {})) COMMANDS.set(n, d);
  for (const [n, d] of Object.entries(e.tests ?? {})) TESTS.set(n, d);
}
