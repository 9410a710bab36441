// spamtest, spamtestplus and virustest (RFC 5235), fed by the checks' spam score and the
// virus scanner's verdict (SieveEnv.spam / SieveEnv.virus).
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, VNode } from './runtime.js';

/**
 * RFC 5235 §3.1: with :count the result counts 1 when a check was done and 0 when not, so an
 * untested message gives no value to count (its "0" is for :value and the other match types).
 */
function untestedCount(node: VNode, untested: boolean): boolean {
  return untested && node.tags.has('count');
}

export const spamtest: ExtensionDef = {
  capabilities: ['spamtest', 'spamtestplus', 'virustest'],
  tests: {
    spamtest: {
      ext: 'spamtest',
      pos: ['string'],
      tags: { ...MATCH_TAGS, percent: { ext: 'spamtestplus' } },
      check: (node, ctx) => checkMatch(node, ctx, 0),
      test(node, rt) {
        const spam = rt.env.spam;
        let value: string;
        if (node.tags.has('percent')) {
          // RFC 5235 §3.2.2: 0-100, the percentage; "0" also when the message was not tested.
          value = spam ? String(Math.max(0, Math.min(100, Math.round(spam.percent)))) : '0';
        } else {
          // RFC 5235 §3.2.1: "0" not tested, "1" certainly not spam ... "10" certainly spam.
          value = spam ? String(Math.max(1, Math.min(10, 1 + Math.round(spam.score * 0.9)))) : '0';
        }
        return matchAny(rt, node, untestedCount(node, spam === null) ? [] : [value], rt.list(node.pos[0] as string));
      },
    },
    virustest: {
      ext: 'virustest',
      pos: ['string'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 0),
      test(node, rt) {
        // RFC 5235 §3.3: "0" not tested, "1" clean ... "5" infected.
        const v = rt.env.virus;
        const value = v === null ? '0' : String(Math.max(1, Math.min(5, Math.round(v))));
        return matchAny(rt, node, untestedCount(node, v === null) ? [] : [value], rt.list(node.pos[0] as string));
      },
    },
  },
};
