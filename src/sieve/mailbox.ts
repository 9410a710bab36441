// mailbox (RFC 5490 §3: mailboxexists, fileinto :create in fileinto.ts) and the metadata tests
// of mboxmetadata and servermetadata (RFC 5490 §3.3-3.4, §4), which read IMAP METADATA entries
// (RFC 5464) through SieveEnv.metadata; without it no annotation exists: metadataexists and
// servermetadataexists are false and metadata / servermetadata match nothing, as RFC 5490 gives
// for an absent annotation.
import { MATCH_TAGS, checkMatch, matchAny } from './match.js';
import type { ExtensionDef, Runtime } from './runtime.js';

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
    metadataexists: {
      ext: 'mboxmetadata',
      pos: ['string', 'list'],
      // RFC 5490 §3.4: true when every named annotation of the mailbox exists
      test: (node, rt) => allExist(rt, rt.str(node.pos[0] as string), rt.list(node.pos[1] as string[])),
    },
    metadata: {
      ext: 'mboxmetadata',
      pos: ['string', 'string', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 2),
      // RFC 5490 §3.3: an absent annotation has no value to match (with :count, zero values)
      test: async (node, rt) => matchAny(rt, node, await valueOf(rt, rt.str(node.pos[0] as string), rt.str(node.pos[1] as string)), rt.list(node.pos[2] as string[])),
    },
    servermetadataexists: {
      ext: 'servermetadata',
      pos: ['list'],
      // RFC 5490 §4.2
      test: (node, rt) => allExist(rt, null, rt.list(node.pos[0] as string[])),
    },
    servermetadata: {
      ext: 'servermetadata',
      pos: ['string', 'list'],
      tags: MATCH_TAGS,
      check: (node, ctx) => checkMatch(node, ctx, 1),
      // RFC 5490 §4.1
      test: async (node, rt) => matchAny(rt, node, await valueOf(rt, null, rt.str(node.pos[0] as string)), rt.list(node.pos[1] as string[])),
    },
  },
};

/** The annotation's value as a list of one, or none when it does not exist. */
async function valueOf(rt: Runtime, mailbox: string | null, entry: string): Promise<string[]> {
  if (!rt.env.metadata) return [];
  const v = await rt.wait(rt.env.metadata(mailbox, entry));
  return v === null ? [] : [v];
}

async function allExist(rt: Runtime, mailbox: string | null, entries: string[]): Promise<boolean> {
  for (const e of entries) if ((await valueOf(rt, mailbox, e)).length === 0) return false;
  return true;
}
