// include (RFC 6609): include, return and global. The run itself (loop detection, :once,
// :optional, limits) is Runtime.include in interpreter.ts.
import { validVariableName } from './variables.js';
import type { ExtensionDef } from './runtime.js';

/** RFC 6609 §3.2: a script name, not a path. */
export function validScriptName(name: string): boolean {
  return name.length > 0 && name.length <= 512 && !/[\x00-\x1f\x7f/]/.test(name);
}

export const include: ExtensionDef = {
  capabilities: ['include'],
  commands: {
    include: {
      ext: 'include',
      pos: ['string'],
      tags: { personal: { group: 'location' }, global: { group: 'location' }, once: {}, optional: {} },
      check(node, ctx) {
        const n = node.pos[0] as string;
        if (!(ctx.has('variables') && n.includes('${')) && !validScriptName(n)) ctx.error(node, `include: invalid script name "${n}"`);
      },
      run(node, rt) {
        const name = rt.str(node.pos[0] as string);
        // RFC 6609 §3.2: :personal is the default location.
        return rt.include(name, node.tags.has('global') ? 'global' : 'personal', node.tags.has('once'), node.tags.has('optional'), node);
      },
    },
    return: {
      ext: 'include',
      pos: [],
      // RFC 6609 §3.3: return ends the current script (the main script too: then like stop
      // for what follows in it).
      run: () => 'return',
    },
    global: {
      ext: 'include',
      pos: ['list'],
      check(node, ctx) {
        // RFC 6609 §3.4.1: global needs "variables".
        if (!ctx.has('variables')) ctx.error(node, 'global needs require "variables"');
        for (const n of node.pos[0] as string[]) if (!validVariableName(n, null)) ctx.error(node, `global: invalid variable name "${n}"`);
      },
      run(node, rt) {
        for (const n of node.pos[0] as string[]) rt.globalNames.add(n.toLowerCase());
      },
    },
  },
};
