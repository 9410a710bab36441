// Every RFC citation in a comment names a section that exists: `// RFC 5321 §4.5.3.1.6: ...`,
// `// RFC 9051 §6.3.4, RFC 3501 §6.3.3`, `// todo(RFC 9051 §7.1): ...` (docs/design.md and
// /work/shared/DESIGN.md, "Comments"). The section numbers come from each RFC's table of contents,
// kept in docs/rfc-sections/NNNN.txt; an RFC whose table could not be taken is listed in
// docs/rfc-sections/skipped.txt and its citations are not checked (the test says so).
// Second: each docs/rfc.md row whose status says a part is missing has a todo(RFC N ...) in src/,
// and each todo(RFC N ...) in src/ names an RFC that docs/rfc.md lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const SECTIONS_DIR = join(ROOT, 'docs', 'rfc-sections');
const SELF = fileURLToPath(import.meta.url);

export interface Citation {
  file: string;
  line: number;
  rfc: number;
  /** The section as written ("4.5.3.1.6", "A.1", "C"); undefined for a bare "RFC N". */
  section?: string;
  /** The text of the citation as found, for the failure message. */
  text: string;
  todo: boolean;
}

function walk(dir: string, out: string[]): string[] {
  let names: string[];
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/**
 * The comment text of each line of a TypeScript source: `//` comments and `/* ... *\/` blocks,
 * with string and template literals skipped so that `'RFC822.SIZE'` or a URL is not read as a
 * comment. Regular-expression literals are not recognised; a `//` inside one would be read as a
 * comment, which at worst checks a citation that is not one.
 */
export function commentLines(source: string): { line: number; text: string; block: number }[] {
  const out: { line: number; text: string; block: number }[] = [];
  let line = 1;
  let i = 0;
  let block = 0; // one number per comment (a run of `//` lines counts as one)
  let lastCommentLine = -2;
  const push = (text: string, startLine: number): void => {
    const parts = text.split('\n');
    if (startLine !== lastCommentLine + 1) block++;
    parts.forEach((t, k) => out.push({ line: startLine + k, text: t, block }));
    lastCommentLine = startLine + parts.length - 1;
  };
  const n = source.length;
  while (i < n) {
    const c = source[i];
    if (c === '\n') { line++; i++; continue; }
    if (c === '/' && source[i + 1] === '/') {
      const end = source.indexOf('\n', i);
      const stop = end < 0 ? n : end;
      push(source.slice(i + 2, stop), line);
      i = stop;
      continue;
    }
    if (c === '/' && source[i + 1] === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? n : end;
      const text = source.slice(i + 2, stop);
      push(text, line);
      line += text.split('\n').length - 1;
      i = stop + 2;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      i++;
      while (i < n && source[i] !== c) {
        if (source[i] === '\\') i++;
        else if (source[i] === '\n') { line++; if (c !== '`') break; }
        i++;
      }
      i++;
      continue;
    }
    i++;
  }
  return out;
}

const SECTION = String.raw`(?:[0-9]+(?:\.[0-9]+)*|[A-Z](?:\.[0-9]+)*)`;
// One token at a time: an RFC number (optionally "todo(" before it), a section sign with a
// section or a range, "section"/"appendix" words, or "and"/"," joining a further section.
const TOKEN = new RegExp(
  String.raw`(todo\()?\bRFC ?([0-9]{3,5})\b` +
    String.raw`|§ ?(${SECTION})(?:\.(?![0-9A-Z]))?(?: ?[-–] ?(${SECTION}))?` +
    String.raw`|\b[Ss]ections? (${SECTION})\b` +
    String.raw`|\b[Aa]ppendix ([A-Z](?:\.[0-9]+)*)\b`,
  'g',
);

/**
 * The citations in one file's comments. A `§x` (or "section x", "Appendix X") belongs to the
 * nearest `RFC N` before it in the same comment; a range `§8.1-8.3` cites both ends (and
 * `§2-3` both sections). A section with no RFC before it in its comment is not a citation.
 */
export function citations(file: string, source: string): Citation[] {
  const out: Citation[] = [];
  let block = -1;
  let rfc: number | undefined;
  let todo = false;
  for (const c of commentLines(source)) {
    if (c.block !== block) { block = c.block; rfc = undefined; todo = false; }
    for (const m of c.text.matchAll(TOKEN)) {
      if (m[2] !== undefined) {
        rfc = Number(m[2]);
        todo = m[1] !== undefined;
        // A bare "RFC N" is recorded only so that an RFC missing from the table is noticed.
        const next = c.text.slice((m.index ?? 0) + m[0].length);
        if (!/^ ?(§|[Ss]ections? [0-9A-Z]|[Aa]ppendix [A-Z])/.test(next)) {
          out.push({ file, line: c.line, rfc, text: m[0], todo });
        }
        continue;
      }
      if (rfc === undefined) continue;
      const from = m[3] ?? m[5] ?? m[6];
      if (from === undefined) continue;
      out.push({ file, line: c.line, rfc, section: from, text: `RFC ${rfc} ${m[0]}`, todo });
      const to = m[4];
      if (to !== undefined) {
        // "§4.1-4.2" or "§2-3": the end is a full section number of the same RFC.
        out.push({ file, line: c.line, rfc, section: to, text: `RFC ${rfc} ${m[0]}`, todo });
      }
    }
  }
  return out;
}

export interface RfcTable {
  title: string;
  sections: Set<string>;
}

/** docs/rfc-sections/NNNN.txt: a title line `# RFC NNNN: title`, a `source:` line, then one `x.y.z Title` a line. */
export function loadTables(): { tables: Map<number, RfcTable>; skipped: Map<number, string> } {
  const tables = new Map<number, RfcTable>();
  for (const name of readdirSync(SECTIONS_DIR)) {
    const m = /^([0-9]+)\.txt$/.exec(name);
    if (!m) continue;
    const lines = readFileSync(join(SECTIONS_DIR, name), 'utf8').split('\n');
    const head = /^# RFC ([0-9]+): (.+)$/.exec(lines[0] ?? '');
    assert.ok(head && Number(head[1]) === Number(m[1]), `${name}: first line must be "# RFC ${Number(m[1])}: title"`);
    const sections = new Set<string>();
    for (const l of lines.slice(1)) {
      if (l === '' || l.startsWith('source:') || l.startsWith('#')) continue;
      const s = /^([0-9]+(?:\.[0-9]+)*|[A-Z](?:\.[0-9]+)*) \S/.exec(l);
      assert.ok(s, `${name}: not a section line: ${JSON.stringify(l)}`);
      assert.ok(!sections.has(s[1]), `${name}: section ${s[1]} listed twice`);
      sections.add(s[1]);
    }
    tables.set(Number(m[1]), { title: head[2], sections });
  }
  const skipped = new Map<number, string>();
  for (const l of readFileSync(join(SECTIONS_DIR, 'skipped.txt'), 'utf8').split('\n')) {
    if (l === '' || l.startsWith('#')) continue;
    const m = /^([0-9]+) (.+)$/.exec(l);
    assert.ok(m, `skipped.txt: not "NNNN reason": ${JSON.stringify(l)}`);
    assert.ok(!tables.has(Number(m[1])), `skipped.txt: RFC ${m[1]} has a table, it is not skipped`);
    skipped.set(Number(m[1]), m[2]);
  }
  return { tables, skipped };
}

/** The problems with the citations against the tables, one line each, and the skipped RFCs met. */
export function check(
  cites: Citation[],
  tables: Map<number, RfcTable>,
  skipped: Map<number, string>,
): { problems: string[]; skippedSeen: Map<number, number> } {
  const problems: string[] = [];
  const skippedSeen = new Map<number, number>();
  for (const c of cites) {
    const where = `${relative(ROOT, c.file)}:${c.line}`;
    if (skipped.has(c.rfc)) {
      skippedSeen.set(c.rfc, (skippedSeen.get(c.rfc) ?? 0) + 1);
      continue;
    }
    const table = tables.get(c.rfc);
    if (!table) {
      problems.push(`${where}: ${c.text}: RFC ${c.rfc} has no table in docs/rfc-sections/ (add one, or list it in skipped.txt)`);
      continue;
    }
    if (c.section !== undefined && !table.sections.has(c.section)) {
      problems.push(`${where}: ${c.text}: no such section (§${c.section}) in RFC ${c.rfc} (${table.title})`);
    }
  }
  return { problems, skippedSeen };
}

function sourceFiles(): string[] {
  return [...walk(join(ROOT, 'src'), []), ...walk(join(ROOT, 'test'), [])].filter((f) => f !== SELF).sort();
}

function allCitations(): Citation[] {
  return sourceFiles().flatMap((f) => citations(f, readFileSync(f, 'utf8')));
}

test('the citation reader finds every form in use', () => {
  const src = [
    '// RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets',
    "const x = 'RFC 9999 §1'; // RFC 9051 §6.3.4, RFC 3501 §6.3.3",
    '/* todo(RFC 9051 §7.1): not yet',
    ' * §7.2 also, and RFC 6409 §8.1-8.3, RFC 6856 §2-3 and Appendix A.1 */',
    '// RFC 5322 §3.4, §4.4 and section 3.6.4; §5.1. ends a sentence',
    '// RFC 822 bare',
    'const s = `RFC 1111 §2 ${y}`;',
    '// §9 with no RFC before it in this comment',
  ].join('\n');
  const got = citations('f.ts', src).map((c) => `${c.line} ${c.todo ? 'todo ' : ''}${c.rfc}${c.section ? ' ' + c.section : ''}`);
  assert.deepEqual(got, [
    '1 5321 4.5.3.1.6',
    '2 9051 6.3.4', '2 3501 6.3.3',
    '3 todo 9051 7.1',
    '4 todo 9051 7.2', '4 6409 8.1', '4 6409 8.3', '4 6856 2', '4 6856 3', '4 6856 A.1',
    '5 5322 3.4', '5 5322 4.4', '5 5322 3.6.4', '5 5322 5.1',
    '6 822',
  ]);
  const tables = new Map([[5321, { title: 'SMTP', sections: new Set(['4.5.3.1.6']) }]]);
  const { problems } = check(citations('f.ts', '// RFC 5321 §4.5.3.1.7, RFC 5321 §4.5.3.1.6\n// RFC 1111 §1'), tables, new Map());
  assert.equal(problems.length, 2);
  assert.match(problems[0], /f\.ts:1: RFC 5321 §4\.5\.3\.1\.7: no such section/);
  assert.match(problems[1], /f\.ts:2: .*RFC 1111 has no table/);
});

test('every RFC section cited in a comment exists in that RFC', (t) => {
  const { tables, skipped } = loadTables();
  const cites = allCitations();
  assert.ok(cites.length > 100, `only ${cites.length} citations found: the reader is broken`);
  const { problems, skippedSeen } = check(cites, tables, skipped);
  for (const [rfc, n] of skippedSeen) {
    t.diagnostic(`not checked: RFC ${rfc} (${n} citations): ${skipped.get(rfc)}`);
  }
  assert.deepEqual(problems, [], `${problems.length} bad RFC citations:\n${problems.join('\n')}`);
});

/** docs/rfc.md table rows: `| RFC[, RFC] | what | where | status |`. */
function rfcDocRows(): { rfcs: number[]; status: string; row: string }[] {
  const rows: { rfcs: number[]; status: string; row: string }[] = [];
  for (const l of readFileSync(join(ROOT, 'docs', 'rfc.md'), 'utf8').split('\n')) {
    const cells = l.split('|').slice(1, -1).map((s) => s.trim());
    if (cells.length < 4 || !/^[0-9]/.test(cells[0])) continue;
    rows.push({ rfcs: (cells[0].match(/(?<![§.0-9])\b[0-9]{3,5}\b/g) ?? []).map(Number), status: cells[cells.length - 1], row: l });
  }
  return rows;
}

/** A status that says something of the RFC is not done. */
const GAP = /\bnot (supported|advertised|implemented|verified|yet)\b|\bno [A-Za-z-]+ (yet|support)\b|\bunsupported\b|\bpartial\b|\btodo\b/i;

test('docs/rfc.md gaps and todo(RFC ...) comments match', () => {
  const rows = rfcDocRows();
  assert.ok(rows.length > 20, 'docs/rfc.md rows not found: has the table format changed?');
  const todos = allCitations().filter((c) => c.todo && c.file.startsWith(join(ROOT, 'src')));
  const todoRfcs = new Set(todos.map((c) => c.rfc));
  const documented = new Set(rows.flatMap((r) => r.rfcs));
  const problems: string[] = [];
  for (const r of rows) {
    if (!GAP.test(r.status)) continue;
    if (!r.rfcs.some((n) => todoRfcs.has(n))) {
      problems.push(`docs/rfc.md says a part is missing, but no todo(RFC ${r.rfcs.join('/')} ...) in src/: ${r.row}`);
    }
  }
  for (const c of todos) {
    if (!documented.has(c.rfc)) {
      problems.push(`${relative(ROOT, c.file)}:${c.line}: ${c.text}: RFC ${c.rfc} has no row in docs/rfc.md`);
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});
