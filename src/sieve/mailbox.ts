// mailbox (RFC 5490 §3: mailboxexists, fileinto :create in fileinto.ts) and the metadata tests
// of mboxmetadata and servermetadata (RFC 5490 §3.3-3.4, §4). Yubin keeps no IMAP METADATA store
// (RFC 5464), so no annotation exists: metadataexists and servermetadataexists are false and
// metadata / servermetadata match nothing, as RFC 5490 gives for an absent annotation.
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef } from './runtime.js';

export const mailbox: ExtensionDef = {
  capabilities: ['mailbox', 'mboxmetadata', 'servermetadata'],
  tests: {
    mailboxexists: {
      ext: 'mailbox',
      pos: ['list'],
      async test(node, rt) {
        // RFC 5490 §3.1: true when every named mailbox exists (and could be filed into).
        for (const name of rt.list(node.pos[0] as string[])) {
          if (!(await rt.wait(rt.env.mailboxExists(name)))) return false;
        }
        return true;
      },
    },
    metadataexists: { ext: 'mboxmetadata', pos: ['string', 'list'], test: () => false },
    metadata: {
      ext: 'mboxmetadata',
      pos: ['string', 'string', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 2),
      // No annotation exists: no value to match (with :count, zero values).
      test: (node, rt) => matchAny(rt, node, [], rt.list(node.pos[2] as string[])),
    },
    servermetadataexists: { ext: 'servermetadata', pos: ['list'], test: () => false },
    servermetadata: {
      ext: 'servermetadata',
      pos: ['string', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 1),
      test: (node, rt) => matchAny(rt, node, [], rt.list(node.pos[1] as string[])),
    },
  },
};
