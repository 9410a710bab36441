// variables (RFC 5229): "${name}" expansion in strings, match variables "${N}", the set
// command with its modifiers, and the string test.
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, Runtime, ValidateCtx, VNode } from './runtime.js';

/** Longest value a variable holds; longer values are truncated (RFC 5229 §6 allows limits). */
export const MAX_VARIABLE_LENGTH = 4096;

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
// RFC 5229 §3: variable-ref = "${" [namespace] variable-name "}"; num-variable = 1*DIGIT.
const REF = new RegExp(`\\$\\{(${IDENT}(?:\\.${IDENT})*|[0-9]+)\\}`, 'g');

/** Expands variable references; an unknown variable expands to the empty string (RFC 5229 §3). */
export function expand(s: string, rt: Runtime): string {
  if (!s.includes('${')) return s;
  return s.replace(REF, (_whole, name: string) => {
    if (/^[0-9]+$/.test(name)) return rt.match[Number(name)] ?? '';
    return rt.getVar(name);
  });
}

/** RFC 5229 §4: modifiers by precedence; one of each precedence level at most. */
const MODIFIERS: Record<string, number> = { lower: 40, upper: 40, lowerfirst: 30, upperfirst: 30, quotewildcard: 20, quoteregex: 20, length: 10 };

function applyModifiers(node: VNode, value: string): string {
  const mods = [...node.tags.keys()].filter((k) => MODIFIERS[k] !== undefined).sort((a, b) => MODIFIERS[b]! - MODIFIERS[a]!);
  let v = value;
  for (const m of mods) {
    switch (m) {
      case 'lower': v = v.toLowerCase(); break;
      case 'upper': v = v.toUpperCase(); break;
      case 'lowerfirst': v = v.slice(0, 1).toLowerCase() + v.slice(1); break;
      case 'upperfirst': v = v.slice(0, 1).toUpperCase() + v.slice(1); break;
      // RFC 5229 §4.1: :quotewildcard puts a backslash before "*", "?" and "\".
      case 'quotewildcard': v = v.replace(/[*?\\]/g, (c) => '\\' + c); break;
      case 'quoteregex': v = v.replace(/[*?\\.+^$|()[\]{}]/g, (c) => '\\' + c); break;
      // RFC 5229 §4.1: :length is the number of characters.
      case 'length': v = String(Array.from(v).length); break;
    }
  }
  return v;
}

export function validVariableName(name: string, ctx: ValidateCtx | null): boolean {
  if (new RegExp(`^${IDENT}$`).test(name)) return true;
  // RFC 6609 §3.4.2: the "global" namespace with the include extension.
  return !!ctx?.has('include') && new RegExp(`^global\\.${IDENT}$`, 'i').test(name);
}

function checkSet(node: VNode, ctx: ValidateCtx): void {
  const name = node.pos[0] as string;
  if (!validVariableName(name, ctx)) ctx.error(node, `set: invalid variable name "${name}"`);
  const levels = new Map<number, string>();
  for (const [k, t] of node.tags) {
    const lv = MODIFIERS[k];
    if (lv === undefined) continue;
    if (levels.has(lv)) ctx.error(t, `:${k} cannot be combined with :${levels.get(lv)}`);
    levels.set(lv, k);
  }
}

export const variables: ExtensionDef = {
  capabilities: ['variables'],
  commands: {
    set: {
      ext: 'variables',
      pos: ['string', 'string'],
      tags: { lower: {}, upper: {}, lowerfirst: {}, upperfirst: {}, quotewildcard: {}, quoteregex: { ext: 'regex' }, length: {} },
      check: checkSet,
      run(node, rt) {
        rt.setVar(node.pos[0] as string, applyModifiers(node, rt.str(node.pos[1] as string)));
      },
    },
  },
  tests: {
    string: {
      ext: 'variables',
      pos: ['list', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 1),
      test(node, rt) {
        // RFC 5229 §5: the expanded source strings against the keys; with :count, empty
        // strings are not counted.
        let values = rt.list(node.pos[0] as string[]);
        if (node.tags.has('count')) values = values.filter((v) => v !== '');
        return matchAny(rt, node, values, rt.list(node.pos[1] as string[]));
      },
    },
  },
};
