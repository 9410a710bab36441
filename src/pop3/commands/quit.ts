// QUIT (RFC 1939 §6): in TRANSACTION state, enter UPDATE: remove what DELE marked, then close.
import { errLine, okLine } from '../wire.js';
import { BOTH, command, dropOf, noArgs } from './common.js';

export const quit = command({
  name: 'QUIT',
  states: BOTH,
  parse: noArgs,
  async run(c) {
    if (c.state === 'authorization') {
      await c.send(okLine('Yubin POP3 server signing off'));
      c.close();
      return;
    }
    // RFC 1939 §6: QUIT in TRANSACTION state enters UPDATE: the messages marked as deleted are
    // removed, then the connection closes. Only QUIT gets here: a dropped connection removes nothing.
    c.state = 'update';
    const drop = dropOf(c);
    const uids = drop.deletedUids();
    try {
      if (uids.length > 0) {
        // One atomic store call, durable when it resolves: +OK only after that.
        await c.ctx.store.expunge(drop.mailboxId, uids);
      }
      c.log.info({ user: c.address, deleted: uids.length }, 'pop3 logout');
      await c.send(okLine(`Yubin POP3 server signing off (${uids.length} message${uids.length === 1 ? '' : 's'} deleted)`));
    } catch (err) {
      c.log.error({ err, user: c.address }, 'pop3 update failed');
      // RFC 1939 §6: -ERR when some deleted messages could not be removed.
      await c.send(errLine('Some deleted messages were not removed, try again later', 'SYS/TEMP'));
    } finally {
      drop.close();
      c.maildrop = null;
      c.unlock?.();
      c.unlock = null;
      c.close();
    }
  },
});
