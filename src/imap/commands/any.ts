// Commands valid in every state (RFC 9051 §6.1) and ENABLE/ID/NAMESPACE.
import { PENDING, type CommandDescriptor } from '../server/conn.js';
import { imapString } from '../wire/compose.js';

const ANY = ['notauth', 'auth', 'selected'] as const;
const AUTHED = ['auth', 'selected'] as const;

export const capability: CommandDescriptor = {
  states: ANY,
  async run({ args, conn }) {
    args.end();
    // RFC 9051 §6.1.1
    conn.send(`* CAPABILITY ${conn.capabilities().join(' ')}`);
  },
};

export const noop: CommandDescriptor = {
  states: ANY,
  async run({ args }) {
    args.end();
    // RFC 9051 §6.1.2: pending updates are sent by the dispatcher before the tagged OK
  },
};

export const logout: CommandDescriptor = {
  states: ANY,
  async run({ tag, args, conn }) {
    args.end();
    // RFC 9051 §6.1.3: BYE, then the tagged OK, then close
    conn.send('* BYE Logging out');
    conn.finishTagged(tag, 'OK', null, 'LOGOUT completed');
    conn.state = 'logout';
    conn.transport.close();
    return PENDING;
  },
};

export const id: CommandDescriptor = {
  states: ANY,
  async run({ args, conn }) {
    // RFC 2971 §3.1: ID ( NIL / list of field-value pairs ); we log what the client says
    const t = args.next();
    if (t.t === 'list') {
      if (t.items.length % 2 !== 0 || t.items.length > 60) args.bad('ID needs field/value pairs (at most 30)');
      const fields: Record<string, string> = {};
      for (let i = 0; i < t.items.length; i += 2) {
        const k = t.items[i]!;
        const v = t.items[i + 1]!;
        if (k.t !== 'string') return args.bad('ID field names are strings');
        if (v.t !== 'string' && !(v.t === 'atom' && v.v.toUpperCase() === 'NIL')) args.bad('ID values are strings or NIL');
        fields[k.v.toString('utf8').slice(0, 30)] = v.t === 'string' ? v.v.toString('utf8').slice(0, 1024) : '';
      }
      conn.log.info({ clientId: fields }, 'client id');
    } else if (!(t.t === 'atom' && t.v.toUpperCase() === 'NIL')) args.bad('ID needs a list or NIL');
    args.end();
    conn.send(`* ID (${imapString('name')} ${imapString('Yubin')} ${imapString('vendor')} ${imapString('Yubin')})`);
  },
};

export const enable: CommandDescriptor = {
  states: AUTHED,
  async run({ args, conn }) {
    // RFC 5161 §3.1: ENABLE capability...; the response lists what was newly enabled
    if (args.done) args.bad('ENABLE needs at least one capability');
    const enabled: string[] = [];
    while (!args.done) {
      const cap = args.atom().toUpperCase();
      if (cap === 'IMAP4REV2' && !conn.rev2) {
        conn.rev2 = true;
        conn.utf8 = true;
        // RFC 9051 §2.3.2: \Recent no longer exists for an IMAP4rev2 client
        if (conn.selected) conn.selected.recent = null;
        enabled.push('IMAP4rev2');
      } else if ((cap === 'UTF8=ACCEPT' || cap === 'UTF8=ONLY') && !conn.utf8) {
        // RFC 6855 §3
        conn.utf8 = true;
        enabled.push('UTF8=ACCEPT');
      } else if (cap === 'IMAP4REV2' || cap === 'UTF8=ACCEPT') {
        // already on: not listed again
      }
    }
    conn.send(`* ENABLED${enabled.map((c) => ' ' + c).join('')}`);
  },
};

export const namespace: CommandDescriptor = {
  states: AUTHED,
  async run({ args, conn }) {
    args.end();
    // RFC 2342 §5: one personal namespace, "" with "/"; no other users' or shared namespaces
    conn.send('* NAMESPACE (("" "/")) NIL NIL');
  },
};
