// fileinto (RFC 5228 §4.1) with :copy (RFC 3894), :flags (RFC 5232 §5) and :create (RFC 5490 §3.2).
import { SieveRuntimeError, type ExtensionDef, type VNode, type ValidateCtx } from './runtime.js';
import { currentFlags } from './imap4flags.js';
import { KEEP_TAGS } from './base.js';

/** A mailbox name a script may file into: not empty, no control characters, no empty hierarchy level. */
export function validMailboxName(name: string): boolean {
  return name.length > 0 && name.length <= 1000 && !/[\x00-\x1f\x7f]/.test(name) && !name.split('/').some((p) => p === '');
}

function check(node: VNode, ctx: ValidateCtx): void {
  const m = node.pos[0] as string;
  if (!(ctx.has('variables') && m.includes('${')) && !validMailboxName(m)) ctx.error(node, `fileinto: invalid mailbox name "${m}"`);
}

export const fileinto: ExtensionDef = {
  capabilities: ['fileinto'],
  commands: {
    fileinto: {
      ext: 'fileinto',
      pos: ['string'],
      tags: { ...KEEP_TAGS, copy: { ext: 'copy' }, create: { ext: 'mailbox' } },
      check,
      run(node, rt) {
        const mailbox = rt.str(node.pos[0] as string);
        if (!validMailboxName(mailbox)) throw new SieveRuntimeError(node, `fileinto: invalid mailbox name "${mailbox}"`);
        const flags = currentFlags(node, rt);
        const copy = node.tags.has('copy');
        const create = node.tags.has('create');
        // RFC 5228 §2.10.3: a message is filed into one mailbox only once.
        const prev = rt.actions.findIndex((a) => a.type === 'fileinto' && a.mailbox === mailbox);
        if (prev >= 0) rt.actions.splice(prev, 1);
        rt.addAction({ type: 'fileinto', mailbox, flags, copy, create });
        // RFC 3894 §3: :copy keeps the implicit keep.
        if (!copy) rt.implicitKeep = false;
      },
    },
  },
};
