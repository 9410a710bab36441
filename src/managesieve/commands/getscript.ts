// GETSCRIPT (RFC 5804 §2.9): the script as a literal, then OK.
import { ok } from '../wire.js';
import { AUTH, MsError, accountOf, command, strings } from './common.js';

export const getscript = command({
  name: 'GETSCRIPT',
  states: AUTH,
  parse(args): string {
    return strings('GETSCRIPT', args, 1)[0]!.text;
  },
  async run(c, name) {
    const script = await c.ctx.store.sieve.getScript(accountOf(c).id, name);
    if (!script) throw new MsError(`No script named "${name}"`, 'NONEXISTENT');
    const bytes = Buffer.from(script.text, 'utf8');
    // RFC 5804 §4: literal-s2c = "{" number "}" CRLF *OCTET
    await c.send(Buffer.concat([Buffer.from(`{${bytes.length}}\r\n`), bytes, Buffer.from('\r\n' + ok())]));
  },
});
