// The compliance-script runner, in the spirit of Dovecot's imaptest scripted tests (the format is
// our own; nothing of imaptest is copied). A script (test/compliance/scripts/<rfc>/<name>.imap) is
// one test group: a header of directives, then client commands and the responses they must get.
//
//   # a comment
//   @requires CONDSTORE QRESYNC   capabilities the group needs (after login); else it is skipped
//   @messages 3                   the first 3 standard messages are appended to $box first
//   @connections 2                how many logged-in connections (1 by default)
//   > a SELECT $box               a command on connection 1; `2> b NOOP` on connection 2
//   * 3 EXISTS                    an untagged response the command must get (any order)
//   * OK [UIDVALIDITY $uv] $*     `$*` matches anything; `$name` (lower case: `$Forwarded` is a
//                                 keyword) captures a token and must be the same wherever it is
//                                 used again in the script
//   ! * $* EXPUNGE                a response the command must NOT get
//   a OK $*                       the tagged reply (required for every command)
//
// In commands, `{{text}}` is sent as a non-synchronizing literal and `{{!text}}` as a synchronizing
// one (after the server's `+`); `\n` in either is CRLF. In expected lines `\r\n` stands for CRLF
// inside a literal's data (a literal is `{n}` followed at once by its n characters). Matching is case-insensitive. An expected FETCH response is compared
// item by item in any order (items the server adds are allowed), FLAGS lists as sets, and
// STATUS items in any order. A literal of any length is written `{$*}...` and must be the last
// item of its FETCH response. Untagged responses a command's expectations did not use stay
// available to the next command on the connection (a server may send EXISTS for an APPEND at
// once or at the next command); `! pattern` looks only at the command's own responses. Before
// `> DONE` the runner waits (up to 5 s) for the untagged responses expected with it.
// $box is a mailbox created for the script (deleted after it), $user the login name.
import { readFileSync } from 'node:fs';
import { RawImap, openSession, type Response } from './client.js';

export interface Target {
  name: string;
  port: number;
  user: string;
  pass: string;
}

export interface Failure {
  line: number;
  command: string;
  message: string;
}

export interface GroupResult {
  file: string;
  skipped?: string;
  commands: number;
  failures: Failure[];
}

interface Expect {
  line: number;
  kind: 'untagged' | 'forbid' | 'tagged';
  pattern: string;
}

interface Step {
  line: number;
  conn: number;
  tag: string;
  raw: string;
  expects: Expect[];
  /** IDLE: the step ends at the server's `+`; a later `> DONE` step on the connection ends it. */
  idle?: boolean;
  done?: boolean;
}

interface Script {
  requires: string[];
  messages: number;
  connections: number;
  steps: Step[];
}

export function parseScript(text: string): Script {
  const s: Script = { requires: [], messages: 0, connections: 1, steps: [] };
  const lines = text.split('\n');
  lines.forEach((l0, i) => {
    const line = l0.replace(/\r$/, '');
    const n = i + 1;
    if (!line.trim() || line.startsWith('#')) return;
    const dir = /^@(\w+)\s*(.*)$/.exec(line);
    if (dir) {
      const [, name, arg] = dir;
      if (name === 'requires') s.requires.push(...arg!.split(/\s+/).filter(Boolean));
      else if (name === 'messages') s.messages = Number(arg);
      else if (name === 'connections') s.connections = Number(arg);
      else throw new Error(`line ${n}: unknown directive @${name}`);
      return;
    }
    const cmd = /^(\d*)> (\S+)(?: (.*))?$/.exec(line);
    if (cmd) {
      const conn = cmd[1] ? Number(cmd[1]) : 1;
      if (conn < 1 || conn > s.connections) throw new Error(`line ${n}: connection ${conn} not declared`);
      if (cmd[2] === 'DONE' && cmd[3] === undefined) {
        const idle = [...s.steps].reverse().find((x) => x.conn === conn && x.idle);
        if (!idle) throw new Error(`line ${n}: DONE without IDLE on connection ${conn}`);
        s.steps.push({ line: n, conn, tag: idle.tag, raw: 'DONE', expects: [], done: true });
        return;
      }
      const idle = /^IDLE$/i.test(cmd[3] ?? '');
      s.steps.push({ line: n, conn, tag: cmd[2]!, raw: cmd[2]! + (cmd[3] !== undefined ? ' ' + cmd[3] : ''), expects: [], idle });
      return;
    }
    const step = s.steps[s.steps.length - 1];
    if (!step) throw new Error(`line ${n}: expectation before any command`);
    if (line.startsWith('! ')) step.expects.push({ line: n, kind: 'forbid', pattern: line.slice(2) });
    else if (line.startsWith('* ')) step.expects.push({ line: n, kind: 'untagged', pattern: line });
    else if (step.idle && line.startsWith('+ ')) step.expects.push({ line: n, kind: 'tagged', pattern: line });
    else if (!step.idle && line.startsWith(step.tag + ' ')) step.expects.push({ line: n, kind: 'tagged', pattern: line });
    else throw new Error(`line ${n}: neither a command, an untagged response nor the tag ${step.tag}: ${line}`);
  });
  for (const st of s.steps) if (!st.expects.some((e) => e.kind === 'tagged')) throw new Error(`line ${st.line}: no tagged reply expected for ${st.raw}`);
  return s;
}

/** The standard messages `@messages N` appends (the first N), each with this internal date. */
export const MESSAGES: Array<{ date: string; text: string }> = [
  {
    date: '01-Feb-2021 10:00:00 +0000',
    text:
      'From: Alice Example <alice@a.test>\nTo: Bob <bob@b.test>\nCc: carol@c.test\nSubject: first message\n' +
      'Date: Mon, 1 Feb 2021 09:00:00 +0000\nMessage-ID: <m1@a.test>\nContent-Type: text/plain; charset=us-ascii\n\nhello world\nsecond line\n',
  },
  {
    date: '02-Feb-2021 10:00:00 +0000',
    text:
      'From: Carol <carol@c.test>\nTo: Alice Example <alice@a.test>\nSubject: Re: first message\n' +
      'Date: Tue, 2 Feb 2021 23:30:00 -0800\nMessage-ID: <m2@c.test>\nIn-Reply-To: <m1@a.test>\nReferences: <m1@a.test>\n\nreply body with zebra\n',
  },
  {
    date: '03-Feb-2021 10:00:00 +0000',
    text:
      'From: Bob <bob@b.test>\nTo: alice@a.test\nSubject: attachment\nDate: Wed, 3 Feb 2021 08:00:00 +0100\nMessage-ID: <m3@b.test>\n' +
      'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="XX"\n\npreamble\n--XX\nContent-Type: text/plain; charset=utf-8\n\n' +
      'see the file\n--XX\nContent-Type: application/octet-stream; name="a.bin"\nContent-Transfer-Encoding: base64\n' +
      'Content-Disposition: attachment; filename="a.bin"\n\nAAECAwQF\n--XX--\n',
  },
  {
    date: '04-Feb-2021 10:00:00 +0000',
    text:
      'From: =?utf-8?q?Ren=C3=A9?= <rene@d.test>\nTo: alice@a.test\nSubject: =?utf-8?q?caf=C3=A9?= apple\n' +
      'Date: Thu, 4 Feb 2021 12:00:00 +0000\nMessage-ID: <m4@d.test>\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n' +
      'caf\u00e9 ' + 'x'.repeat(200) + '\n',
  },
  {
    date: '05-Feb-2021 10:00:00 +0000',
    text: 'From: Dave <dave@e.test>\nTo: alice@a.test\nSubject: no date header\nMessage-ID: <m5@e.test>\n\nshort\n',
  },
];

export const crlf = (s: string): Buffer => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');

/** Splits a command with {{literals}} into the parts RawImap.command sends. */
function commandParts(raw: string, vars: Map<string, string>): Array<string | { literal: Buffer; nonSync: boolean }> {
  const parts: Array<string | { literal: Buffer; nonSync: boolean }> = [];
  const re = /\{\{(!?)([\s\S]*?)\}\}/g;
  let last = 0;
  for (let m = re.exec(raw); m; m = re.exec(raw)) {
    parts.push(substitute(raw.slice(last, m.index), vars));
    parts.push({ literal: crlf(substitute(m[2]!, vars).replace(/\\n/g, '\n')), nonSync: m[1] !== '!' });
    last = m.index + m[0].length;
  }
  parts.push(substitute(raw.slice(last), vars));
  return parts;
}

function substitute(text: string, vars: Map<string, string>): string {
  return text.replace(/\$([a-z][a-z0-9_]*)/g, (all, name: string) => vars.get(name) ?? all);
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Builds a regex from a pattern; unbound `$name`s become captures (names in `names`). */
function toRegex(pattern: string, vars: Map<string, string>): { re: RegExp; names: string[] } {
  const names: string[] = [];
  let src = '';
  const tok = /\$\*|\$([a-z][a-z0-9_]*)|\\r\\n|\\r|\\n/g;
  let last = 0;
  for (let m = tok.exec(pattern); m; m = tok.exec(pattern)) {
    src += esc(pattern.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[0] === '$*') src += '[\\s\\S]*';
    else if (m[0] === '\\r\\n') src += '\\r\\n';
    else if (m[0] === '\\r') src += '\\r';
    else if (m[0] === '\\n') src += '\\n';
    else {
      const v = vars.get(m[1]!);
      if (v !== undefined) src += esc(v);
      else if (names.includes(m[1]!)) src += `\\k<${m[1]}>`;
      else {
        names.push(m[1]!);
        src += `(?<${m[1]}>[^\\s()\\[\\]]+)`;
      }
    }
  }
  src += esc(pattern.slice(last));
  return { re: new RegExp('^' + src + '$', 'i'), names };
}

/** Splits `NAME value NAME value` of a FETCH response (values: atoms, strings, literals, lists). */
export function fetchItems(s: string): Array<[string, string]> | null {
  const out: Array<[string, string]> = [];
  let i = 0;
  const skipSp = () => {
    while (s[i] === ' ') i++;
  };
  const readValue = (): string => {
    const start = i;
    if (s[i] === '(') {
      let depth = 0;
      while (i < s.length) {
        const c = s[i]!;
        if (c === '"') {
          readQuoted();
          continue;
        }
        if (c === '{') {
          const m = /^\{(\d+)\+?\}/.exec(s.slice(i));
          if (m) {
            i += m[0].length + Number(m[1]);
            continue;
          }
        }
        if (c === '(') depth++;
        if (c === ')') depth--;
        i++;
        if (depth === 0) break;
      }
    } else if (s[i] === '"') readQuoted();
    else if (s.startsWith('{$*}', i)) i = s.length;
    else if (s[i] === '{') {
      const m = /^\{(\d+)\+?\}/.exec(s.slice(i));
      if (!m) return '';
      i += m[0].length + Number(m[1]);
    } else while (i < s.length && s[i] !== ' ') i++;
    return s.slice(start, i);
  };
  const readQuoted = () => {
    i++;
    while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
    i++;
  };
  while (i < s.length) {
    skipSp();
    if (i >= s.length) break;
    const start = i;
    let depth = 0;
    while (i < s.length && (depth > 0 || s[i] !== ' ')) {
      if (s[i] === '[') depth++;
      if (s[i] === ']') depth--;
      i++;
    }
    const name = s.slice(start, i);
    skipSp();
    out.push([name, readValue()]);
  }
  return out;
}

// RFC 9586 §3.3: UIDFETCH (after ENABLE UIDONLY) is compared the same way.
const FETCH_RE = /^\* (\S+) (FETCH|UIDFETCH) \(([\s\S]*)\)$/i;

/** Matches one received line against one pattern; returns the new bindings or null. */
function match(pattern0: string, got: string, vars: Map<string, string>): Map<string, string> | null {
  // `\r\n` in a pattern is CRLF (so a literal's length in the pattern counts it as two characters).
  const pattern = pattern0.replace(/\\r/g, '\r').replace(/\\n/g, '\n');
  const pf = FETCH_RE.exec(pattern);
  const gf = FETCH_RE.exec(got);
  if (pf && gf && pf[2]!.toUpperCase() === gf[2]!.toUpperCase()) {
    const bound = new Map(vars);
    const seq = match1(pf[1]!, gf[1]!, bound);
    if (!seq) return null;
    for (const [k, v] of seq) bound.set(k, v);
    const want = fetchItems(pf[3]!);
    const have = fetchItems(gf[3]!);
    if (!want || !have) return null;
    for (const [name, value] of want) {
      if (name === '$*') continue;
      const h = have.find(([n]) => n.toUpperCase() === name.toUpperCase());
      if (!h) return null;
      if (name.toUpperCase() === 'FLAGS') {
        const wantFlags = value.replace(/^\(|\)$/g, '').split(/\s+/).filter(Boolean);
        const haveFlags = h[1].replace(/^\(|\)$/g, '').split(/\s+/).filter(Boolean).map((f) => f.toLowerCase());
        const open = wantFlags.includes('$*');
        const fixed = wantFlags.filter((f) => f !== '$*').map((f) => substitute(f, bound).toLowerCase());
        if (!fixed.every((f) => haveFlags.includes(f))) return null;
        if (!open && haveFlags.some((f) => !fixed.includes(f) && f !== '\\recent')) return null;
        continue;
      }
      const m = match1(value, h[1], bound);
      if (!m) return null;
      for (const [k, v] of m) bound.set(k, v);
    }
    const fresh = new Map<string, string>();
    for (const [k, v] of bound) if (!vars.has(k)) fresh.set(k, v);
    return fresh;
  }
  // STATUS items in any order (servers answer in their own order).
  const ps = STATUS_RE.exec(pattern);
  const gs = STATUS_RE.exec(got);
  if (ps && gs) {
    const bound = new Map(vars);
    const name = match1(ps[1]!, gs[1]!, bound);
    if (!name) return null;
    for (const [k, v] of name) bound.set(k, v);
    const have = new Map<string, string>();
    const g = gs[2]!.split(/\s+/).filter(Boolean);
    for (let i = 0; i + 1 < g.length; i += 2) have.set(g[i]!.toUpperCase(), g[i + 1]!);
    const w = ps[2]!.split(/\s+/).filter(Boolean);
    for (let i = 0; i + 1 < w.length; i += 2) {
      const v = have.get(w[i]!.toUpperCase());
      if (v === undefined) return null;
      const m = match1(w[i + 1]!, v, bound);
      if (!m) return null;
      for (const [k, x] of m) bound.set(k, x);
    }
    const fresh = new Map<string, string>();
    for (const [k, v] of bound) if (!vars.has(k)) fresh.set(k, v);
    return fresh;
  }
  return match1(pattern, got, vars);
}

const STATUS_RE = /^\* STATUS (.+) \(([^()]*)\)$/i;

function match1(pattern: string, got: string, vars: Map<string, string>): Map<string, string> | null {
  const { re, names } = toRegex(pattern, vars);
  const m = re.exec(got);
  if (!m) return null;
  const out = new Map<string, string>();
  for (const n of names) out.set(n, m.groups![n]!);
  return out;
}

const show = (r: Response) => (r.tag + ' ' + r.text).replace(/\r\n/g, '\\r\\n');

/** Runs one script file against a server. */
export async function runScript(file: string, target: Target, box: string): Promise<GroupResult> {
  const result: GroupResult = { file, commands: 0, failures: [] };
  let script: Script;
  try {
    script = parseScript(readFileSync(file, 'utf8'));
  } catch (e) {
    result.failures.push({ line: 0, command: '(script)', message: (e as Error).message });
    return result;
  }
  const conns: RawImap[] = [];
  try {
    for (let i = 0; i < script.connections; i++) conns.push(await openSession(target.port, target.user, target.pass));
    const c1 = conns[0]!;
    const caps = (await c1.command('C0', ['C0 CAPABILITY'])).find((r) => r.tag === '*' && /^CAPABILITY /i.test(r.text));
    const have = new Set((caps?.text ?? '').toUpperCase().split(/\s+/).slice(1));
    // `@requires APPENDLIMIT=` asks for the capability with any value.
    const missing = script.requires.filter((c) => (c.endsWith('=') ? ![...have].some((h) => h.startsWith(c.toUpperCase())) : !have.has(c.toUpperCase())));
    if (missing.length) {
      result.skipped = `server lacks ${missing.join(' ')}`;
      return result;
    }
    await c1.command('C1', [`C1 DELETE "${box}"`]);
    const created = await c1.command('C2', [`C2 CREATE "${box}"`]);
    if (!/^OK/i.test(created[created.length - 1]?.text ?? '')) throw new Error(`CREATE ${box}: ${created.map(show).join(' | ')}`);
    for (let i = 0; i < script.messages; i++) {
      const m = MESSAGES[i]!;
      const r = await c1.command('C3', [`C3 APPEND "${box}" "${m.date}" `, { literal: crlf(m.text), nonSync: false }]);
      if (!/^OK/i.test(r[r.length - 1]?.text ?? '')) throw new Error(`APPEND: ${r.map(show).join(' | ')}`);
    }
    const pools: Response[][] = conns.map(() => []);
    const vars = new Map<string, string>([
      ['box', box],
      ['user', target.user],
    ]);
    for (const step of script.steps) {
      result.commands++;
      const conn = conns[step.conn - 1]!;
      const parts = commandParts(step.raw, vars);
      const endTag = step.idle ? '+' : step.tag;
      const pool = pools[step.conn - 1]!;
      if (step.done) {
        // IDLE pushes come when the server notices the change: wait for the expected ones.
        const want = step.expects.filter((e) => e.kind === 'untagged');
        const deadline = Date.now() + 5_000;
        while (!conn.closed && Date.now() < deadline) {
          const have = [...pool, ...conn.peek()].filter((r) => r.tag === '*');
          if (want.every((e) => have.some((r) => match(e.pattern, '* ' + r.text, vars)))) break;
          await conn.waitData(deadline - Date.now());
        }
      }
      const got = conn.closed ? [] : step.idle || step.done ? await conn.raw(step.raw, endTag) : await conn.command(step.tag, parts);
      const own = got.filter((r) => r.tag !== endTag);
      const untagged = [...pool, ...own];
      const tagged = got.find((r) => r.tag === endTag);
      const used = new Set<number>();
      const fail = (e: Expect, message: string) =>
        result.failures.push({ line: e.line, command: substitute(step.raw, vars), message: `${message}\n      received: ${[...untagged, ...(tagged ? [tagged] : [])].map(show).join('\n                ') || '(nothing)'}` });
      let failed = false;
      for (const e of step.expects) {
        if (failed) break;
        if (e.kind === 'tagged') {
          const b = tagged ? match(e.pattern, endTag + ' ' + tagged.text, vars) : null;
          if (!b) {
            fail(e, `expected ${substitute(e.pattern, vars)}`);
            failed = true;
          } else for (const [k, v] of b) vars.set(k, v);
        } else if (e.kind === 'untagged') {
          let ok = false;
          for (let i = 0; i < untagged.length; i++) {
            if (used.has(i)) continue;
            const b = match(e.pattern, '* ' + untagged[i]!.text, vars);
            if (b) {
              used.add(i);
              for (const [k, v] of b) vars.set(k, v);
              ok = true;
              break;
            }
          }
          if (!ok) {
            fail(e, `missing ${substitute(e.pattern, vars)}`);
            failed = true;
          }
        } else {
          const bad = own.find((r) => match(e.pattern, r.tag + ' ' + r.text, vars));
          if (bad) {
            fail(e, `forbidden response ${show(bad)} (pattern ${e.pattern})`);
            failed = true;
          }
        }
      }
      pools[step.conn - 1] = untagged.filter((_, i) => !used.has(i));
    }
  } catch (e) {
    result.failures.push({ line: 0, command: '(setup)', message: (e as Error).message });
  } finally {
    try {
      if (conns[0] && !conns[0].closed) {
        await conns[0].command('Z1', ['Z1 UNSELECT']);
        await conns[0].command('Z2', [`Z2 DELETE "${box}"`]);
      }
    } catch {
      /* the connection may be gone; the mailbox stays in a throwaway server */
    }
    for (const c of conns) c.close();
  }
  return result;
}

/** Runs every script (paths) against a target, one after another; a mailbox per script. */
export async function runAll(files: string[], target: Target, prefix = 'ct'): Promise<GroupResult[]> {
  const out: GroupResult[] = [];
  for (const f of files) {
    const stem = f.replace(/^.*scripts\//, '').replace(/\.imap$/, '').replace(/[^A-Za-z0-9]+/g, '-');
    out.push(await runScript(f, target, `${prefix}-${stem}`));
  }
  return out;
}

export function summary(results: GroupResult[]): { groups: number; skipped: number; commands: number; failed: number } {
  return {
    groups: results.length,
    skipped: results.filter((r) => r.skipped).length,
    commands: results.reduce((a, r) => a + r.commands, 0),
    failed: results.reduce((a, r) => a + r.failures.length, 0),
  };
}

export function report(name: string, results: GroupResult[]): string {
  const s = summary(results);
  const lines = [`${name}: ${s.groups} groups, ${s.skipped} skipped, ${s.commands} commands, ${s.failed} failed`];
  for (const r of results) {
    if (r.skipped) lines.push(`  skipped ${r.file}: ${r.skipped}`);
    for (const f of r.failures) lines.push(`  FAIL ${r.file}:${f.line} ${f.command}\n    ${f.message}`);
  }
  return lines.join('\n');
}
