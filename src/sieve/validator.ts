// Validation (RFC 5228 §2.6, §3.2, §8.3): require first and only known capabilities, each command
// and test known and required, tagged arguments (RFC 5228 §2.6.2) before positional ones,
// argument types and counts, if/elsif/else order. Produces the validated tree (VNode).
import { parse, type Arg, type CommandNode, type Pos, type TestNode } from './parser.js';
import { SieveSyntaxError } from './lexer.js';
import { COMMANDS, TESTS, CAPABILITIES, IMPLIED } from './registry.js';
import type { Signature, ValidateCtx, Value, VNode } from './runtime.js';
import type { SieveError } from './types.js';

export interface Validated {
  requires: string[];
  tree: VNode[];
}

function needs(ext: string | readonly string[] | undefined, has: (e: string) => boolean): string | null {
  if (ext === undefined) return null;
  const list = typeof ext === 'string' ? [ext] : ext;
  return list.some(has) ? null : list[0]!;
}

/**
 * RFC 5228 §2.4.2.4: with "encoded-character", "${hex:...}" and "${unicode:...}" in strings
 * stand for the octets / characters they name; a malformed sequence is left as it is, a
 * Unicode value outside 0-D7FF and E000-10FFFF is an error.
 */
export function decodeEncoded(s: string, at: Pos, error: (at: Pos, msg: string) => void): string {
  if (!s.includes('${')) return s;
  return s.replace(/\$\{(hex|unicode):([\s0-9A-Fa-f]*)\}/gi, (whole, kind: string, body: string) => {
    const items = body.trim().split(/\s+/).filter(Boolean);
    if (!items.length) return whole;
    if (kind.toLowerCase() === 'hex') {
      // RFC 5228 §2.4.2.4: hex-pair = 1*2HEXDIG; "${hex:400}" is not an encoding and stays as it is.
      if (items.some((h) => h.length > 2)) return whole;
      const bytes = Buffer.from(items.map((h) => parseInt(h, 16) & 0xff));
      return bytes.toString('utf8');
    }
    let out = '';
    for (const h of items) {
      const cp = parseInt(h, 16);
      if (h.length > 8 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        error(at, `invalid Unicode character ${h} in \${unicode:...}`);
        return whole;
      }
      out += String.fromCodePoint(cp);
    }
    return out;
  });
}

export function validate(src: string, maxNesting: number): { ok: true; value: Validated } | { ok: false; errors: SieveError[] } {
  let ast: CommandNode[];
  try {
    ast = parse(src, { maxNesting });
  } catch (err) {
    if (err instanceof SieveSyntaxError) return { ok: false, errors: [{ line: err.line, column: err.column, message: err.message }] };
    throw err;
  }
  const errors: SieveError[] = [];
  const error = (at: Pos, message: string): void => {
    if (errors.length < 20) errors.push({ line: at.line, column: at.column, message });
  };
  const requires = new Set<string>();
  let i = 0;
  // RFC 5228 §3.2: require comes before any other command.
  for (; i < ast.length && ast[i]!.name === 'require'; i++) {
    const r = ast[i]!;
    const a = r.args;
    if (a.length !== 1 || (a[0]!.kind !== 'string' && a[0]!.kind !== 'list') || r.tests.length || r.block) {
      error(r, 'require takes one string list');
      continue;
    }
    const names = a[0]!.kind === 'string' ? [a[0]!.value] : (a[0] as Extract<Arg, { kind: 'list' }>).values;
    for (const name of names) {
      // RFC 5228 §3.2: an unknown capability makes the script fail to compile.
      if (!CAPABILITIES.has(name)) error(a[0]!, `unsupported extension "${name}"`);
      else {
        requires.add(name);
        for (const implied of IMPLIED[name] ?? []) requires.add(implied);
      }
    }
  }
  const ctx: ValidateCtx = { requires, error, has: (e) => requires.has(e) };
  const encoded = requires.has('encoded-character');
  const str = (s: string, at: Pos): string => (encoded ? decodeEncoded(s, at, error) : s);

  function build(node: CommandNode | TestNode, sig: Signature, kind: 'command' | 'test'): VNode {
    const errorsBefore = errors.length;
    const v: VNode = { name: node.name, line: node.line, column: node.column, tags: new Map(), pos: [], tests: [], block: null, data: {} };
    const args = node.args;
    for (let k = 0; k < args.length; k++) {
      const a = args[k]!;
      if (a.kind === 'tag') {
        if (v.pos.length) { error(a, `tagged argument :${a.name} after positional arguments of ${node.name}`); continue; }
        const spec = sig.tags?.[a.name];
        if (!spec) { error(a, `unknown tagged argument :${a.name} for ${node.name}`); continue; }
        const missing = needs(spec.ext, ctx.has);
        if (missing) {
          error(a, `:${a.name} needs require "${missing}"`);
          if (spec.arg && args[k + 1] && args[k + 1]!.kind !== 'tag') k++;
          continue;
        }
        if (v.tags.has(a.name)) { error(a, `:${a.name} given twice`); continue; }
        if (spec.group) {
          for (const [other] of v.tags) if (other !== a.name && sig.tags?.[other]?.group === spec.group) error(a, `:${a.name} cannot be combined with :${other}`);
        }
        let value: Value | true = true;
        if (spec.arg) {
          const b = args[k + 1];
          const okType = b && (spec.arg === 'number' ? b.kind === 'number' : spec.arg === 'string' ? b.kind === 'string' : b.kind === 'string' || b.kind === 'list');
          if (!b || !okType) { error(a, `:${a.name} needs a ${spec.arg === 'list' ? 'string list' : spec.arg} argument`); continue; }
          k++;
          value = b.kind === 'number' ? b.value : b.kind === 'string' ? (spec.arg === 'list' ? [str(b.value, b)] : str(b.value, b)) : (b as Extract<Arg, { kind: 'list' }>).values.map((s) => str(s, b));
        }
        v.tags.set(a.name, { value, line: a.line, column: a.column });
        continue;
      }
      const want = sig.pos[v.pos.length];
      if (want === undefined) { error(a, `too many arguments for ${node.name}`); break; }
      if (want === 'number' && a.kind !== 'number') { error(a, `${node.name}: expected a number`); v.pos.push(0); continue; }
      if (want === 'string' && a.kind !== 'string') { error(a, `${node.name}: expected a string`); v.pos.push(''); continue; }
      if (want === 'list' && a.kind !== 'string' && a.kind !== 'list') { error(a, `${node.name}: expected a string list`); v.pos.push([]); continue; }
      v.pos.push(a.kind === 'number' ? a.value : a.kind === 'string' ? (want === 'list' ? [str(a.value, a)] : str(a.value, a)) : (a as Extract<Arg, { kind: 'list' }>).values.map((s) => str(s, a)));
    }
    const min = sig.pos.length - (sig.optional ?? 0);
    if (v.pos.length < min) error(node, `${node.name} needs ${min === sig.pos.length ? '' : 'at least '}${min} argument${min === 1 ? '' : 's'}`);
    const want = sig.tests ?? 'none';
    if (want === 'none' && node.tests.length) error(node.tests[0]!, `${node.name} takes no test`);
    if (want === 'one' && (node.tests.length !== 1 || node.testList)) error(node, `${node.name} needs one test`);
    if (want === 'list' && !node.testList) error(node, `${node.name} needs a test list in parentheses`);
    v.tests = node.tests.map(test);
    if (kind === 'command') {
      const block = (node as CommandNode).block;
      if (sig.block && !block) error(node, `${node.name} needs a block`);
      if (!sig.block && block) error(node, `${node.name} takes no block`);
      if (block) v.block = commands(block);
    }
    if (errors.length === errorsBefore) sig.check?.(v, ctx);
    return v;
  }

  function test(t: TestNode): VNode {
    const def = TESTS.get(t.name);
    const missing = def ? needs(def.ext, ctx.has) : null;
    const dummy: VNode = { name: t.name, line: t.line, column: t.column, tags: new Map(), pos: [], tests: [], block: null, data: {} };
    if (!def) { error(t, `unknown test "${t.name}"`); return dummy; }
    if (missing) { error(t, `test "${t.name}" needs require "${missing}"`); return dummy; }
    return build(t, def, 'test');
  }

  function commands(list: CommandNode[]): VNode[] {
    const out: VNode[] = [];
    let prev: string | null = null;
    for (const c of list) {
      const def = COMMANDS.get(c.name);
      const missing = def ? needs(def.ext, ctx.has) : null;
      if (c.name === 'require') error(c, 'require must come before any other command');
      else if (!def) error(c, `unknown command "${c.name}"`);
      else if (missing) error(c, `command "${c.name}" needs require "${missing}"`);
      // RFC 5228 §3.1: elsif and else only after if or elsif.
      if ((c.name === 'elsif' || c.name === 'else') && prev !== 'if' && prev !== 'elsif') error(c, `${c.name} without if`);
      prev = c.name;
      if (!def || missing || c.name === 'require') continue;
      out.push(build(c, def, 'command'));
    }
    return out;
  }

  const tree = commands(ast.slice(i));
  if (errors.length) return { ok: false, errors };
  return { ok: true, value: { requires: [...requires], tree } };
}
