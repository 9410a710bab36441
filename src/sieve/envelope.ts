// The envelope test (RFC 5228 §5.4).
import { ADDRESS_PART_TAGS, MATCH_TAGS, checkMatch, matchAny } from './match.js';
import { addressPart, splitAddress } from './message.js';
import type { ExtensionDef } from './runtime.js';

export const envelope: ExtensionDef = {
  capabilities: ['envelope'],
  tests: {
    envelope: {
      ext: 'envelope',
      pos: ['list', 'list'],
      tags: { ...MATCH_TAGS, ...ADDRESS_PART_TAGS },
      check(node, ctx) {
        checkMatch(node, ctx, 1);
        for (const p of node.pos[0] as string[]) {
          // RFC 5228 §5.4: "from" and "to" (further parts only by extension).
          if (!(ctx.has('variables') && p.includes('${')) && !['from', 'to'].includes(p.toLowerCase())) ctx.error(node, `unknown envelope part "${p}"`);
        }
      },
      test(node, rt) {
        const values: string[] = [];
        for (const part of rt.list(node.pos[0] as string[])) {
          const p = part.toLowerCase();
          const addr = p === 'from' ? rt.msg.envelope.from : p === 'to' ? rt.msg.envelope.to : null;
          if (addr === null) continue;
          // RFC 5228 §5.4: the null reverse-path "<>" compares as the empty string (:all only).
          if (addr === '') {
            if (!node.tags.has('localpart') && !node.tags.has('domain') && !node.tags.has('user') && !node.tags.has('detail')) values.push('');
            continue;
          }
          const v = addressPart(node, splitAddress(addr), rt.env.separator);
          if (v !== null) values.push(v);
        }
        return matchAny(rt, node, values, rt.list(node.pos[1] as string[]));
      },
    },
  },
};
