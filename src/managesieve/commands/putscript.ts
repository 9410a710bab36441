// PUTSCRIPT (RFC 5804 §2.6): checks the script, then stores it (replacing one of the same name).
import { ok } from '../wire.js';
import { AUTH, accountOf, checkScript, command, scriptQuota, scriptText, strings } from './common.js';
import { storeCall } from './scripts.js';

export const putscript = command({
  name: 'PUTSCRIPT',
  states: AUTH,
  parse(args): { name: string; script: Buffer } {
    const [name, script] = strings('PUTSCRIPT', args, 2);
    return { name: name!.text, script: script!.raw };
  },
  async run(c, a) {
    const text = scriptText(a.script);
    // RFC 5804 §2.6: the server MUST check the script and refuse one that is not valid
    checkScript(c, a.name, text);
    await storeCall(() => c.ctx.store.sieve.putScript(accountOf(c).id, a.name, text, scriptQuota(c)));
    c.log.info({ user: c.account?.address, script: a.name, size: a.script.length }, 'sieve script stored');
    await c.send(ok());
  },
});
