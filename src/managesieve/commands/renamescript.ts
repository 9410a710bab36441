// RENAMESCRIPT (RFC 5804 §2.11): the active script stays active under its new name.
import { ok } from '../wire.js';
import { AUTH, accountOf, command, strings } from './common.js';
import { storeCall } from './scripts.js';

export const renamescript = command({
  name: 'RENAMESCRIPT',
  states: AUTH,
  parse(args): { from: string; to: string } {
    const [from, to] = strings('RENAMESCRIPT', args, 2);
    return { from: from!.text, to: to!.text };
  },
  async run(c, a) {
    await storeCall(() => c.ctx.store.sieve.renameScript(accountOf(c).id, a.from, a.to));
    await c.send(ok());
  },
});
