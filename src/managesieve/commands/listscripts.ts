// LISTSCRIPTS (RFC 5804 §2.7): one line per script, the active one marked ACTIVE.
import { ok, str } from '../wire.js';
import { AUTH, accountOf, command, noArgs } from './common.js';

export const listscripts = command({
  name: 'LISTSCRIPTS',
  states: AUTH,
  parse: noArgs('LISTSCRIPTS'),
  async run(c) {
    const list = await c.ctx.store.sieve.listScripts(accountOf(c).id);
    await c.send(list.map((s) => `${str(s.name)}${s.active ? ' ACTIVE' : ''}\r\n`).join('') + ok());
  },
});
