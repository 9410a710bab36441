// SETACTIVE (RFC 5804 §2.8): makes a script the active one; "" deactivates every script.
import { ok } from '../wire.js';
import { AUTH, MsError, accountOf, checkScript, command, strings } from './common.js';
import { storeCall } from './scripts.js';

export const setactive = command({
  name: 'SETACTIVE',
  states: AUTH,
  parse(args): string {
    return strings('SETACTIVE', args, 1)[0]!.text;
  },
  async run(c, name) {
    const id = accountOf(c).id;
    if (name !== '') {
      const script = await c.ctx.store.sieve.getScript(id, name);
      if (!script) throw new MsError(`No script named "${name}"`, 'NONEXISTENT');
      // A script stored by an older server (or through the CLI) must still be valid to run.
      checkScript(c, name, script.text);
    }
    await storeCall(() => c.ctx.store.sieve.setActive(id, name === '' ? null : name));
    await c.send(ok());
  },
});
