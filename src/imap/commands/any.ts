// Commands valid in every state (RFC 9051 §6.1) and ENABLE/ID/NAMESPACE.
import { defineCommand, noArgs } from '../server/conn.js';
import { imapString } from '../wire/compose.js';
import type { ArgReader } from '../wire/tokenizer.js';

const ANY = ['notauth', 'auth', 'selected'] as const;
const AUTHED = ['auth', 'selected'] as const;

export const capability = defineCommand({
  name: 'CAPABILITY',
  states: ANY,
  parse: noArgs,
  async run(conn) {
    // RFC 9051 §6.1.1
    conn.send(`* CAPABILITY ${conn.capabilities().join(' ')}`);
  },
});

export const noop = defineCommand({
  name: 'NOOP',
  states: ANY,
  parse: noArgs,
  async run() {
    // RFC 9051 §6.1.2: pending updates are sent by the dispatcher before the tagged OK
  },
});

export const logout = defineCommand({
  name: 'LOGOUT',
  states: ANY,
  parse: noArgs,
  async run(conn) {
    // RFC 9051 §6.1.3: BYE, then the tagged OK, then close
    conn.send('* BYE Logging out');
    conn.logout();
  },
});

/** RFC 2971 §3.1: ID ( NIL / list of field-value pairs ); at most 30 pairs. */
export function parseId(args: ArgReader): Record<string, string> | null {
  const t = args.next();
  let fields: Record<string, string> | null = null;
  if (t.t === 'list') {
    if (t.items.length % 2 !== 0 || t.items.length > 60) args.bad('ID needs field/value pairs (at most 30)');
    fields = {};
    for (let i = 0; i < t.items.length; i += 2) {
      const k = t.items[i]!;
      const v = t.items[i + 1]!;
      if (k.t !== 'string') return args.bad('ID field names are strings');
      if (v.t !== 'string' && !(v.t === 'atom' && v.v.toUpperCase() === 'NIL')) args.bad('ID values are strings or NIL');
      fields[k.v.toString('utf8').slice(0, 30)] = v.t === 'string' ? v.v.toString('utf8').slice(0, 1024) : '';
    }
  } else if (!(t.t === 'atom' && t.v.toUpperCase() === 'NIL')) args.bad('ID needs a list or NIL');
  args.end();
  return fields;
}

export const id = defineCommand({
  name: 'ID',
  states: ANY,
  parse: parseId,
  async run(conn, fields) {
    if (fields) conn.log.info({ clientId: fields }, 'client id');
    conn.send(`* ID (${imapString('name')} ${imapString('Yubin')} ${imapString('vendor')} ${imapString('Yubin')})`);
  },
});

/** RFC 5161 §3.1: ENABLE capability... (upper case). */
export function parseEnable(args: ArgReader): string[] {
  if (args.done) args.bad('ENABLE needs at least one capability');
  const caps: string[] = [];
  while (!args.done) caps.push(args.atom().toUpperCase());
  return caps;
}

export const enable = defineCommand({
  name: 'ENABLE',
  states: AUTHED,
  parse: parseEnable,
  async run(conn, caps) {
    // RFC 5161 §3.1: the response lists what was newly enabled
    const enabled: string[] = [];
    for (const cap of caps) {
      if (cap === 'IMAP4REV2' && !conn.rev2) {
        conn.rev2 = true;
        conn.utf8 = true;
        // RFC 9051 §2.3.2: \Recent no longer exists for an IMAP4rev2 client
        if (conn.selected) conn.selected.recent = null;
        enabled.push('IMAP4rev2');
      } else if (cap === 'CONDSTORE' && !conn.condstore) {
        // RFC 7162 §3.1: ENABLE CONDSTORE is a CONDSTORE enabling command
        conn.condstore = true;
        enabled.push('CONDSTORE');
      } else if (cap === 'QRESYNC' && !conn.qresync) {
        // RFC 7162 §3.2.3: enabling QRESYNC enables CONDSTORE too
        conn.qresync = true;
        conn.condstore = true;
        enabled.push('QRESYNC');
      } else if (cap === 'UIDONLY' && !conn.uidonly) {
        // RFC 9586 §3: from now on message sequence numbers are neither accepted nor sent
        conn.uidonly = true;
        enabled.push('UIDONLY');
      } else if ((cap === 'UTF8=ACCEPT' || cap === 'UTF8=ONLY') && !conn.utf8) {
        // RFC 6855 §3
        conn.utf8 = true;
        enabled.push('UTF8=ACCEPT');
      }
      // already on, or unknown: not listed (RFC 5161 §3.1)
    }
    conn.send(`* ENABLED${enabled.map((c) => ' ' + c).join('')}`);
  },
});

export const namespace = defineCommand({
  name: 'NAMESPACE',
  states: AUTHED,
  parse: noArgs,
  async run(conn) {
    // RFC 2342 §5: one personal namespace, "" with "/"; no other users' or shared namespaces
    conn.send('* NAMESPACE (("" "/")) NIL NIL');
  },
});
