// THREAD and UID THREAD (RFC 5256 §3): THREAD=ORDEREDSUBJECT and THREAD=REFERENCES.
import { defineCommand } from '../server/conn.js';
import type { ArgReader } from '../wire/tokenizer.js';
import { requireSelected } from '../server/messages.js';
import { checkCharset, parseSearchKeys, runSearch, type SearchKey } from '../search.js';
import { THREAD_ALGORITHMS, formatThreads, threadMessages, type ThreadAlgorithm } from '../thread.js';

const SELECTED = ['selected'] as const;

export interface ThreadArgs {
  algorithm: ThreadAlgorithm;
  key: SearchKey;
}

/** RFC 5256 §5: thread = ["UID" SP] "THREAD" SP thread-alg SP search-criteria; search-criteria = charset 1*(SP search-key). */
export function parseThread(args: ArgReader): ThreadArgs {
  const alg = args.atom().toUpperCase();
  if (!(THREAD_ALGORITHMS as readonly string[]).includes(alg)) args.bad(`Unknown threading algorithm ${alg.slice(0, 30)}`);
  const charset = checkCharset(args.astring());
  return { algorithm: alg as ThreadAlgorithm, key: parseSearchKeys(args, charset) };
}

export const thread = defineCommand({
  name: 'THREAD',
  states: SELECTED,
  flags: { uid: true, usesSeqs: true },
  parse: parseThread,
  async run(conn, { algorithm, key }, { uid }) {
    const view = requireSelected(conn);
    const matched = await runSearch(conn, view, key);
    const threads = await threadMessages(conn.ctx.store, view.mailboxId, matched, algorithm);
    const text = formatThreads(threads, uid ? (u) => u : (u) => view.seqOf(u));
    // RFC 5256 §4: thread-data = "THREAD" [SP 1*thread-list]
    conn.send(text ? `* THREAD ${text}` : '* THREAD');
  },
});
