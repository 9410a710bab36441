// The base language (RFC 5228): control commands (§3), actions (§4) and tests (§5).
import { ADDRESS_PART_TAGS, INDEX_TAGS, MATCH_TAGS, checkMatch, matchAny } from './match.js';
import { addressesIn, addressPart, fieldValues } from './message.js';
import { SieveRuntimeError, asList, tagNumber, type CommandDef, type ExtensionDef, type Flow, type Runtime, type TestDef, type ValidateCtx, type VNode } from './runtime.js';
import { currentFlags } from './imap4flags.js';
import { evalTest } from './interpreter.js';

/** RFC 5228 §2.10.3: redirect to an address: checked when written as a constant. */
export function plausibleAddress(s: string): boolean {
  return /^[^\s@<>()]+@[^\s@<>()]+$/.test(s) || /^"[^"]*"@[^\s@<>()]+$/.test(s);
}

function checkHeaderName(node: VNode, ctx: ValidateCtx, names: string[]): void {
  for (const n of names) {
    // RFC 5228 §5.7 / RFC 5322 §3.6.8: a field name is printable US-ASCII except ":".
    if (!(ctx.has('variables') && n.includes('${')) && !/^[!-9;-~]+$/.test(n)) ctx.error(node, `invalid header name "${n}"`);
  }
}

// RFC 5228 §3.1: if/elsif/else; the interpreter runs the chain (runBlock), these give the signatures.
const ifCmd: CommandDef = { pos: [], tests: 'one', block: true, run: () => undefined };

export const KEEP_TAGS = { flags: { arg: 'list' as const, ext: 'imap4flags' } };

const commands: Record<string, CommandDef> = {
  stop: {
    pos: [],
    run: () => 'stop',
  },
  keep: {
    pos: [],
    tags: KEEP_TAGS,
    run(node, rt) {
      // RFC 5228 §4.3: keep files into the default mailbox and cancels the implicit keep.
      // RFC 5228 §2.10.3: a message is filed into one mailbox only once, also when the header
      // was edited in between (RFC 5293 §7): a second keep replaces the first (its flags win).
      const prev = rt.actions.findIndex((a) => a.type === 'keep');
      if (prev >= 0) rt.actions.splice(prev, 1);
      rt.addAction({ type: 'keep', flags: currentFlags(node, rt) });
      rt.implicitKeep = false;
    },
  },
  discard: {
    pos: [],
    run(_node, rt) {
      // RFC 5228 §4.4: discard only cancels the implicit keep.
      rt.implicitKeep = false;
      rt.discarded = true;
    },
  },
  redirect: {
    pos: ['string'],
    tags: { copy: { ext: 'copy' } },
    check(node, ctx) {
      const a = node.pos[0] as string;
      // RFC 5228 §4.2: the argument must be a syntactically valid address.
      if (!(ctx.has('variables') && a.includes('${')) && !plausibleAddress(a)) ctx.error(node, `redirect: invalid address "${a}"`);
    },
    run(node, rt) {
      const address = rt.str(node.pos[0] as string);
      if (!plausibleAddress(address)) throw new SieveRuntimeError(node, `redirect: invalid address "${address}"`);
      if (!rt.actions.some((a) => a.type === 'redirect' && a.address.toLowerCase() === address.toLowerCase())) {
        const count = rt.actions.filter((a) => a.type === 'redirect').length;
        if (count >= rt.limits.maxRedirects) throw new SieveRuntimeError(node, `more than ${rt.limits.maxRedirects} redirects`);
        rt.addAction({ type: 'redirect', address, copy: node.tags.has('copy') });
      }
      // RFC 3894 §3: with :copy the implicit keep is not cancelled.
      if (!node.tags.has('copy')) rt.implicitKeep = false;
    },
  },
};

const tests: Record<string, TestDef> = {
  true: { pos: [], test: () => true },
  false: { pos: [], test: () => false },
  not: { pos: [], tests: 'one', test: async (node, rt) => !(await evalTest(node.tests[0]!, rt)) },
  allof: {
    pos: [],
    tests: 'list',
    async test(node, rt) {
      // RFC 5228 §5.2: evaluation stops at the first false test.
      for (const t of node.tests) if (!(await evalTest(t, rt))) return false;
      return true;
    },
  },
  anyof: {
    pos: [],
    tests: 'list',
    async test(node, rt) {
      for (const t of node.tests) if (await evalTest(t, rt)) return true;
      return false;
    },
  },
  exists: {
    pos: ['list'],
    check: (node, ctx) => checkHeaderName(node, ctx, node.pos[0] as string[]),
    test(node, rt) {
      // RFC 5228 §5.5: true when every named header field exists.
      return rt.list(node.pos[0] as string[]).every((n) => rt.headers.some((h) => h.name.toLowerCase() === n.toLowerCase()));
    },
  },
  size: {
    pos: ['number'],
    tags: { over: { group: 'size' }, under: { group: 'size' } },
    check(node, ctx) {
      if (!node.tags.has('over') && !node.tags.has('under')) ctx.error(node, 'size needs :over or :under');
    },
    test(node, rt) {
      // RFC 5228 §5.9: the size of the message in octets; :over is strictly greater.
      const n = node.pos[0] as number;
      const size = rt.msg.raw.length;
      return node.tags.has('over') ? size > n : size < n;
    },
  },
  header: {
    pos: ['list', 'list'],
    tags: { ...MATCH_TAGS, ...INDEX_TAGS },
    check(node, ctx) {
      checkHeaderName(node, ctx, node.pos[0] as string[]);
      checkMatch(node, ctx, 1);
      checkIndex(node, ctx);
    },
    test(node, rt) {
      // RFC 5228 §5.7: each named header field, decoded (RFC 2047), against each key.
      return matchAny(rt, node, fieldValues(rt, node, rt.list(node.pos[0] as string[])), rt.list(node.pos[1] as string[]));
    },
  },
  address: {
    pos: ['list', 'list'],
    tags: { ...MATCH_TAGS, ...ADDRESS_PART_TAGS, ...INDEX_TAGS },
    check(node, ctx) {
      checkHeaderName(node, ctx, node.pos[0] as string[]);
      checkMatch(node, ctx, 1);
      checkIndex(node, ctx);
    },
    test(node, rt) {
      // RFC 5228 §5.1: the addresses in the named header fields.
      const values: string[] = [];
      for (const v of fieldValues(rt, node, rt.list(node.pos[0] as string[]), false)) {
        for (const a of addressesIn(v)) {
          const p = addressPart(node, a, rt.env.separator);
          if (p !== null) values.push(p);
        }
      }
      return matchAny(rt, node, values, rt.list(node.pos[1] as string[]));
    },
  },
};

export function checkIndex(node: VNode, ctx: ValidateCtx): void {
  const idx = node.tags.get('index');
  // RFC 5260 §6: :last without :index is an error; the index is 1-based.
  if (node.tags.has('last') && !idx) ctx.error(node.tags.get('last')!, ':last needs :index');
  if (idx && (idx.value as number) < 1) ctx.error(idx, ':index must be 1 or more');
}

export const base: ExtensionDef = {
  capabilities: [],
  commands: { ...commands, if: ifCmd, elsif: ifCmd, else: { ...ifCmd, tests: 'none' } },
  tests,
};

export type { Flow, Runtime };
void asList;
void tagNumber;
