// DELETESCRIPT (RFC 5804 §2.10): the active script cannot be deleted (NO (ACTIVE)).
import { ok } from '../wire.js';
import { AUTH, accountOf, command, strings } from './common.js';
import { storeCall } from './scripts.js';

export const deletescript = command({
  name: 'DELETESCRIPT',
  states: AUTH,
  parse(args): string {
    return strings('DELETESCRIPT', args, 1)[0]!.text;
  },
  async run(c, name) {
    await storeCall(() => c.ctx.store.sieve.deleteScript(accountOf(c).id, name));
    await c.send(ok());
  },
});
