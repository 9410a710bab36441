// COMPRESS (RFC 4978): after its tagged OK both directions are raw DEFLATE (src/imap/compress.ts,
// a layer over the transport: the session and the other commands are unchanged).
import { ANSWERED, defineCommand } from '../server/conn.js';
import { ImapError } from '../server/errors.js';
import type { ArgReader } from '../wire/tokenizer.js';

const AUTHED = ['auth', 'selected'] as const;

/** RFC 4978 §4: compress = "COMPRESS" SP algorithm; algorithm = "DEFLATE" (the only one defined). */
export function parseCompress(args: ArgReader): 'DEFLATE' {
  const algorithm = args.atom().toUpperCase();
  args.end();
  // RFC 4978 §3: an unknown algorithm is a syntax error
  if (algorithm !== 'DEFLATE') args.bad('Unknown compression algorithm');
  return 'DEFLATE';
}

export const compress = defineCommand({
  name: 'COMPRESS',
  states: AUTHED,
  parse: parseCompress,
  async run(conn, _algorithm, { tag }) {
    // RFC 4978 §3: compression cannot be started twice (nor stacked)
    if (conn.compressed) throw new ImapError('NO', 'COMPRESSIONACTIVE', 'DEFLATE is already active');
    // RFC 4978 §3: the tagged OK is the last thing sent uncompressed; compression starts right after it
    conn.finishTagged(tag, 'OK', null, 'DEFLATE active');
    conn.startCompression();
    return ANSWERED;
  },
});
