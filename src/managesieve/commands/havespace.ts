// HAVESPACE (RFC 5804 §2.5): would a script of this name and size fit?
import { checkScriptName } from '../../store/sieve-names.js';
import { ok } from '../wire.js';
import { AUTH, MsError, accountOf, command } from './common.js';
import { storeCall } from './scripts.js';

export const havespace = command({
  name: 'HAVESPACE',
  states: AUTH,
  parse(args): { name: string; size: number } {
    const [n, s] = args;
    if (args.length !== 2 || n?.kind !== 'string' || s?.kind !== 'number') throw new MsError('HAVESPACE takes a script name and a number', null, true);
    return { name: n.value.toString('utf8'), size: s.value };
  },
  async run(c, a) {
    await storeCall(async () => checkScriptName(a.name));
    const max = c.ctx.config.sieve.max_script_size;
    if (a.size > max) throw new MsError(`Scripts are limited to ${max} octets`, 'QUOTA/MAXSIZE');
    const list = await c.ctx.store.sieve.listScripts(accountOf(c).id);
    const maxScripts = c.ctx.config.sieve.max_scripts;
    if (maxScripts > 0 && !list.some((s) => s.name === a.name) && list.length >= maxScripts) throw new MsError(`At most ${maxScripts} scripts are allowed`, 'QUOTA/MAXSCRIPTS');
    await c.send(ok());
  },
});
