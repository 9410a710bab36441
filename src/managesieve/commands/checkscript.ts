// CHECKSCRIPT (RFC 5804 §2.12): checks a script without storing it.
import { ok } from '../wire.js';
import { AUTH, checkScript, command, scriptText, strings } from './common.js';

export const checkscript = command({
  name: 'CHECKSCRIPT',
  states: AUTH,
  parse(args): Buffer {
    return strings('CHECKSCRIPT', args, 1)[0]!.raw;
  },
  async run(c, raw) {
    checkScript(c, 'checkscript', scriptText(raw));
    await c.send(ok());
  },
});
