// editheader (RFC 5293): addheader and deleteheader. Later tests see the edited header; the
// edited message is returned as SieveResult.editedRaw.
import libmime from 'libmime';
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import { checkIndex } from './base.js';
import { headerText } from './message.js';
import { SieveRuntimeError, tagNumber, type ExtensionDef, type VNode, type ValidateCtx } from './runtime.js';

/**
 * RFC 5293 §6: implementations MUST NOT let a script delete Received fields, and may protect
 * more; Yubin protects Received and Auto-Submitted (loop and auto-reply control) from
 * addition and deletion.
 */
export const PROTECTED_HEADERS: ReadonlySet<string> = new Set(['received', 'auto-submitted']);

/** RFC 5322 §3.6.8: field-name = 1*ftext (printable US-ASCII except ":"). */
function validFieldName(n: string): boolean {
  return /^[!-9;-~]+$/.test(n);
}

function checkName(node: VNode, ctx: ValidateCtx): void {
  const n = node.pos[0] as string;
  if (ctx.has('variables') && n.includes('${')) return;
  // RFC 5293 §4, §5: an invalid field name is an error.
  if (!validFieldName(n)) ctx.error(node, `${node.name}: invalid header field name "${n}"`);
}

export const editheader: ExtensionDef = {
  capabilities: ['editheader'],
  commands: {
    addheader: {
      ext: 'editheader',
      pos: ['string', 'string'],
      tags: { last: {} },
      check: checkName,
      run(node, rt) {
        const name = rt.str(node.pos[0] as string);
        if (!validFieldName(name)) throw new SieveRuntimeError(node, `addheader: invalid header field name "${name}"`);
        if (PROTECTED_HEADERS.has(name.toLowerCase())) return;
        let value = rt.str(node.pos[1] as string).replace(/\r?\n(?![ \t])/g, '\r\n ');
        // RFC 5293 §4: a value that is not 7-bit unstructured text is encoded (RFC 2047).
        if (/[^\x00-\x7f]/.test(value)) value = libmime.encodeWords(value, 'Q', 52);
        const h = { name, raw: ' ' + value };
        // RFC 5293 §4: at the top of the header, or with :last at the end.
        if (node.tags.has('last')) rt.headers.push(h);
        else rt.headers.unshift(h);
        rt.headersEdited = true;
      },
    },
    deleteheader: {
      ext: 'editheader',
      pos: ['string', 'list'],
      optional: 1,
      // RFC 5293 §5: :index and :last belong to deleteheader itself (no "index" require).
      tags: { ...MATCH_TAGS, index: { arg: 'number' }, last: {} },
      check(node, ctx) {
        checkName(node, ctx);
        checkMatch(node, ctx, 1);
        checkIndex(node, ctx);
      },
      run(node, rt) {
        const name = rt.str(node.pos[0] as string).toLowerCase();
        if (PROTECTED_HEADERS.has(name)) return;
        const positions: number[] = [];
        rt.headers.forEach((h, i) => {
          if (h.name.toLowerCase() === name) positions.push(i);
        });
        const idx = tagNumber(node, 'index');
        let chosen = positions;
        // RFC 5293 §5: :index N (from the end with :last) picks one occurrence.
        if (idx !== undefined) {
          const pick = node.tags.has('last') ? positions[positions.length - idx] : positions[idx - 1];
          chosen = pick === undefined ? [] : [pick];
        }
        const keys = node.pos.length > 1 ? rt.list(node.pos[1] as string[]) : null;
        const drop = new Set(chosen.filter((i) => keys === null || matchAny(rt, node, [headerText(rt.headers[i]!)], keys)));
        if (!drop.size) return;
        rt.headers = rt.headers.filter((_h, i) => !drop.has(i));
        rt.headersEdited = true;
      },
    },
  },
};
