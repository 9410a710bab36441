// environment (RFC 5183): facts about the delivery environment.
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, Runtime } from './runtime.js';

/** RFC 5183 §4.1: the standard items and Yubin's defaults for them. */
export function environmentItem(rt: Runtime, name: string): string | null {
  const env = rt.env.environment;
  const k = name.toLowerCase();
  if (env[k] !== undefined) return env[k]!;
  switch (k) {
    case 'name': return 'Yubin';
    // RFC 5183 §4.1: "MDA" when run at final delivery; "during" the delivery.
    case 'location': return 'MDA';
    case 'phase': return 'during';
    default: return null;
  }
}

export const environment: ExtensionDef = {
  capabilities: ['environment'],
  tests: {
    environment: {
      ext: 'environment',
      pos: ['string', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 1),
      test(node, rt) {
        // RFC 5183 §4: an unknown item makes the test false (nothing to match).
        const v = environmentItem(rt, rt.str(node.pos[0] as string));
        return matchAny(rt, node, v === null ? [] : [v], rt.list(node.pos[1] as string[]));
      },
    },
  },
};
