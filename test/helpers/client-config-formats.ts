// Validators of the client configuration formats against their documented element and key sets,
// so a test fails on an element a client does not know, a missing required one or a value out of
// its set (not only on the values the test looks at):
//  - Thunderbird autoconfig, clientConfig 1.1:
//    https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
//  - Outlook autodiscover, POX response schema (responseschema/2006 + outlook/responseschema/2006a,
//    [MS-OXDSCLI] §2.2.4): Account, Protocol and their child elements;
//  - Apple configuration profile: the Configuration Profile Reference's top-level keys and the
//    com.apple.mail.managed payload's keys with their plist types, checked in Python's plistlib
//    (which keeps <integer>, <real>, <true/> and <string> apart).
import { spawnSync } from 'node:child_process';
import type { XmlNode } from './documents.js';

const local = (tag: string) => tag.replace(/^\{[^}]*\}/, '');
const ns = (tag: string) => /^\{([^}]*)\}/.exec(tag)?.[1] ?? '';

interface ElementRule {
  /** Child elements allowed, with their least and most count (Infinity = unbounded). */
  children: Record<string, [number, number]>;
  attrs?: Record<string, RegExp>;
  /** The element's text, when it has no children. */
  text?: RegExp;
}

function validate(node: XmlNode, rules: Record<string, ElementRule>, path: string, problems: string[], nsOf?: (n: XmlNode) => string | null): void {
  const name = local(node.tag);
  const rule = rules[name];
  const here = `${path}/${name}`;
  if (nsOf) {
    const want = nsOf(node);
    if (want !== null && ns(node.tag) !== want) problems.push(`${here}: namespace "${ns(node.tag)}", expected "${want}"`);
  }
  if (!rule) return;
  for (const [attr, re] of Object.entries(rule.attrs ?? {})) if (!re.test(node.attrib[attr] ?? '')) problems.push(`${here}: attribute ${attr}="${node.attrib[attr] ?? ''}" is not ${re}`);
  if (rule.text && !rule.text.test(node.text)) problems.push(`${here}: "${node.text}" is not ${rule.text}`);
  const counts = new Map<string, number>();
  for (const c of node.children) {
    const n = local(c.tag);
    if (!(n in rule.children)) problems.push(`${here}: unknown element <${n}>`);
    counts.set(n, (counts.get(n) ?? 0) + 1);
    validate(c, rules, here, problems, nsOf);
  }
  for (const [n, [min, max]] of Object.entries(rule.children)) {
    const k = counts.get(n) ?? 0;
    if (k < min || k > max) problems.push(`${here}: ${k} <${n}>, expected ${min}..${max}`);
  }
}

const PORT = /^(?:[1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$/;
const NONEMPTY = /\S/;
const leaf = (text: RegExp = NONEMPTY): ElementRule => ({ children: {}, text });
const ANY = [0, Infinity] as [number, number];
const OPT = [0, 1] as [number, number];
const ONE = [1, 1] as [number, number];

const AUTOCONFIG: Record<string, ElementRule> = {
  clientConfig: { attrs: { version: /^1\.1$/ }, children: { emailProvider: ONE, oAuth2: OPT, enable: OPT, webMail: OPT, clientConfigUpdate: OPT } },
  emailProvider: {
    attrs: { id: NONEMPTY },
    children: { domain: [1, Infinity], displayName: OPT, displayShortName: OPT, incomingServer: [1, Infinity], outgoingServer: [1, Infinity], documentation: ANY, enable: OPT, instructions: ANY },
  },
  domain: leaf(/^[a-z0-9.-]+$/i),
  displayName: leaf(),
  displayShortName: leaf(),
  incomingServer: {
    attrs: { type: /^(imap|pop3)$/ },
    children: { hostname: ONE, port: ONE, socketType: ONE, username: ONE, authentication: [1, Infinity], password: OPT, pop3: OPT },
  },
  outgoingServer: {
    attrs: { type: /^smtp$/ },
    children: { hostname: ONE, port: ONE, socketType: ONE, username: OPT, authentication: [1, Infinity], password: OPT, addThisServer: OPT, useGlobalPreferredServer: OPT },
  },
  hostname: leaf(/^[a-z0-9.-]+$/i),
  port: leaf(PORT),
  socketType: leaf(/^(plain|SSL|STARTTLS)$/),
  username: leaf(),
  authentication: leaf(/^(password-cleartext|password-encrypted|NTLM|GSSAPI|client-IP-address|TLS-client-cert|OAuth2|none)$/),
};

/** Problems of a Thunderbird clientConfig document ([] = valid). */
export function validateAutoconfig(root: XmlNode): string[] {
  const problems: string[] = [];
  if (root.tag !== 'clientConfig') problems.push(`root <${root.tag}>, expected <clientConfig> (no namespace)`);
  validate(root, AUTOCONFIG, '', problems, () => '');
  return problems;
}

const RESPONSE_NS = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
const OUTLOOK_NS = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';
const ONOFF = /^(on|off)$/;

const AUTODISCOVER: Record<string, ElementRule> = {
  Autodiscover: { children: { Response: ONE } },
  Response: { children: { User: OPT, Account: ONE, Error: OPT } },
  Account: { children: { AccountType: ONE, Action: ONE, Protocol: [1, Infinity], RedirectAddr: OPT, RedirectUrl: OPT } },
  AccountType: leaf(/^email$/),
  Action: leaf(/^(settings|redirectAddr|redirectUrl)$/),
  Protocol: {
    children: {
      Type: ONE,
      Server: ONE,
      Port: OPT,
      LoginName: OPT,
      DomainRequired: OPT,
      DomainName: OPT,
      SPA: OPT,
      SSL: OPT,
      Encryption: OPT,
      AuthRequired: OPT,
      UsePOPAuth: OPT,
      SMTPLast: OPT,
      TTL: OPT,
    },
  },
  Type: leaf(/^(IMAP|POP3|SMTP|EXCH|EXPR|WEB)$/),
  Server: leaf(/^[a-z0-9.-]+$/i),
  Port: leaf(PORT),
  LoginName: leaf(),
  DomainRequired: leaf(ONOFF),
  SPA: leaf(ONOFF),
  SSL: leaf(ONOFF),
  Encryption: leaf(/^(None|SSL|TLS|Auto)$/),
  AuthRequired: leaf(ONOFF),
  UsePOPAuth: leaf(ONOFF),
  SMTPLast: leaf(ONOFF),
};

/** Problems of an Outlook autodiscover POX response ([] = valid). */
export function validateAutodiscover(root: XmlNode): string[] {
  const problems: string[] = [];
  if (root.tag !== `{${RESPONSE_NS}}Autodiscover`) problems.push(`root ${root.tag}, expected {${RESPONSE_NS}}Autodiscover`);
  validate(root, AUTODISCOVER, '', problems, (n) => (local(n.tag) === 'Autodiscover' ? RESPONSE_NS : OUTLOOK_NS));
  return problems;
}

const MOBILECONFIG_CHECK = String.raw`
import sys, json, plistlib, re
p = plistlib.loads(sys.stdin.buffer.read())
problems = []
UUID = re.compile(r'^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$')
def is_int(v): return isinstance(v, int) and not isinstance(v, bool)
def keys(d, where, required, optional):
    if not isinstance(d, dict):
        problems.append(where + ': not a dictionary'); return
    for k, check in required.items():
        if k not in d: problems.append(where + ': missing ' + k)
        elif not check(d[k]): problems.append(where + ': bad ' + k + ' = ' + repr(d[k]))
    for k, check in optional.items():
        if k in d and not check(d[k]): problems.append(where + ': bad ' + k + ' = ' + repr(d[k]))
    for k in d:
        if k not in required and k not in optional: problems.append(where + ': unknown key ' + k)
s = lambda v: isinstance(v, str) and v != ''
b = lambda v: isinstance(v, bool)
uuid = lambda v: isinstance(v, str) and UUID.match(v) is not None
port = lambda v: is_int(v) and 0 < v < 65536
auth = lambda v: v in ('EmailAuthNone', 'EmailAuthPassword', 'EmailAuthCRAMMD5', 'EmailAuthNTLM', 'EmailAuthHTTPMD5')
keys(p, 'profile',
     {'PayloadContent': lambda v: isinstance(v, list) and len(v) > 0, 'PayloadDisplayName': s, 'PayloadIdentifier': s,
      'PayloadType': lambda v: v == 'Configuration', 'PayloadUUID': uuid, 'PayloadVersion': lambda v: is_int(v) and v == 1},
     {'PayloadDescription': s, 'PayloadOrganization': s, 'PayloadRemovalDisallowed': b, 'PayloadScope': lambda v: v in ('User', 'System')})
ids = set()
for i, m in enumerate(p.get('PayloadContent', [])):
    where = 'PayloadContent[%d]' % i
    keys(m, where,
         {'PayloadType': lambda v: v == 'com.apple.mail.managed', 'PayloadVersion': lambda v: is_int(v) and v == 1, 'PayloadIdentifier': s, 'PayloadUUID': uuid,
          'EmailAccountType': lambda v: v in ('EmailTypeIMAP', 'EmailTypePOP'),
          'IncomingMailServerHostName': s, 'IncomingMailServerAuthentication': auth,
          'OutgoingMailServerHostName': s, 'OutgoingMailServerAuthentication': auth},
         {'PayloadDisplayName': s, 'PayloadDescription': s, 'PayloadOrganization': s,
          'EmailAccountDescription': s, 'EmailAccountName': s, 'EmailAddress': s,
          'IncomingMailServerPortNumber': port, 'IncomingMailServerUseSSL': b, 'IncomingMailServerUsername': s, 'IncomingPassword': s,
          'OutgoingMailServerPortNumber': port, 'OutgoingMailServerUseSSL': b, 'OutgoingMailServerUsername': s, 'OutgoingPassword': s,
          'OutgoingPasswordSameAsIncomingPassword': b, 'PreventMove': b, 'PreventAppSheet': b, 'SMIMEEnabled': b, 'allowMailDrop': b,
          'disableMailRecentsSyncing': b})
    for k in ('PayloadIdentifier', 'PayloadUUID'):
        if m.get(k) in ids or m.get(k) == p.get(k): problems.append(where + ': ' + k + ' not unique')
        ids.add(m.get(k))
print(json.dumps(problems))
`;

/** Problems of an Apple configuration profile with mail payloads ([] = valid), read by plistlib. */
export function validateMobileconfig(doc: string): string[] {
  const r = spawnSync('python3', ['-c', MOBILECONFIG_CHECK], { input: doc, encoding: 'utf8' });
  if (r.status !== 0) return [`plistlib could not read the profile: ${r.stderr}`];
  return JSON.parse(r.stdout) as string[];
}
