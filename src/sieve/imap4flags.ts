// imap4flags (RFC 5232): setflag/addflag/removeflag on the internal flag variable (or a named
// variable), the hasflag test, and :flags on keep and fileinto.
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, Runtime, VNode } from './runtime.js';

/** RFC 5232 §3: a flag list is space-separated flag names; duplicates (case-insensitive) removed. */
export function parseFlags(values: string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const v of values) {
    for (const f of v.split(/\s+/)) {
      if (!f) continue;
      const k = f.toLowerCase();
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(f);
    }
  }
  return out;
}

/**
 * The flags keep/fileinto (and the implicit keep) store with: :flags when given, else the
 * internal variable (RFC 5232 §5); null when the script does not use imap4flags or no flag is set.
 */
export function currentFlags(node: VNode | null, rt: Runtime): string[] | null {
  const t = node?.tags.get('flags');
  if (!t && !rt.flags.length) return null;
  const flags = t ? parseFlags(rt.list(t.value as string[])) : rt.flags;
  return flags.length ? [...flags] : null;
}

function read(rt: Runtime, variable: string | null): string[] {
  return variable === null ? rt.flags : parseFlags([rt.getVar(variable)]);
}

function write(rt: Runtime, variable: string | null, flags: string[]): void {
  if (variable === null) rt.flags = flags;
  else rt.setVar(variable, flags.join(' '));
}

/** Arguments: [variablename] list-of-flags (RFC 5232 §3). */
function args(node: VNode, rt: Runtime): { variable: string | null; flags: string[] } {
  if (node.pos.length === 2) return { variable: rt.list(node.pos[0] as string[])[0] ?? '', flags: parseFlags(rt.list(node.pos[1] as string[])) };
  return { variable: null, flags: parseFlags(rt.list(node.pos[0] as string[])) };
}

function checkVariableForm(node: VNode, ctx: { has(e: string): boolean; error(at: VNode, m: string): void }): void {
  // RFC 5232 §3: the variable-name form needs the "variables" extension.
  if (node.pos.length === 2 && !ctx.has('variables')) ctx.error(node, `${node.name} with a variable name needs require "variables"`);
}

export const imap4flags: ExtensionDef = {
  capabilities: ['imap4flags'],
  commands: {
    setflag: {
      ext: 'imap4flags', pos: ['list', 'list'], optional: 1, check: checkVariableForm,
      run(node, rt) {
        const a = args(node, rt);
        write(rt, a.variable, a.flags);
      },
    },
    addflag: {
      ext: 'imap4flags', pos: ['list', 'list'], optional: 1, check: checkVariableForm,
      run(node, rt) {
        const a = args(node, rt);
        write(rt, a.variable, parseFlags([...read(rt, a.variable), ...a.flags]));
      },
    },
    removeflag: {
      ext: 'imap4flags', pos: ['list', 'list'], optional: 1, check: checkVariableForm,
      run(node, rt) {
        const a = args(node, rt);
        const drop = new Set(a.flags.map((f) => f.toLowerCase()));
        write(rt, a.variable, read(rt, a.variable).filter((f) => !drop.has(f.toLowerCase())));
      },
    },
  },
  tests: {
    hasflag: {
      ext: 'imap4flags', pos: ['list', 'list'], optional: 1, tags: MATCH_TAGS,
      check(node, ctx) {
        checkMatch(node, ctx, node.pos.length - 1);
        if (node.pos.length === 2 && !ctx.has('variables')) ctx.error(node, 'hasflag with variable names needs require "variables"');
      },
      test(node, rt) {
        // RFC 5232 §4: the flags of the internal variable (or of the named variables) against the keys.
        const flags = node.pos.length === 2 ? parseFlags(rt.list(node.pos[0] as string[]).map((v) => rt.getVar(v))) : rt.flags;
        // RFC 5232 §2: the list-of-flags keys too are space-separated flag names ("b A" is "b" and
        // "A", RFC 5232 §4's example), empty strings ignored.
        const keys = rt.list(node.pos[node.pos.length - 1] as string[]).flatMap((k) => k.split(/\s+/).filter((f) => f !== ''));
        return matchAny(rt, node, flags, keys);
      },
    },
  },
};
