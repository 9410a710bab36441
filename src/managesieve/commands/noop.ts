// NOOP (RFC 5804 §2.13): OK, with the client's tag echoed as (TAG "...").
import { ok } from '../wire.js';
import { ANY, command, strings } from './common.js';

export const noop = command({
  name: 'NOOP',
  states: ANY,
  parse(args): string | null {
    const [tag] = strings('NOOP', args, 1, 1);
    return tag ? tag.text : null;
  },
  async run(c, tag) {
    await c.send(tag === null ? ok('Done') : ok('Done', 'TAG', tag));
  },
});
