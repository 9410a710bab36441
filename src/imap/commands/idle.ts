// IDLE (RFC 2177, RFC 9051 §6.3.13): changes are pushed as they happen until DONE.
import { ANSWERED, defineCommand, noArgs } from '../server/conn.js';
import { ImapError } from '../server/errors.js';

export const idle = defineCommand({
  name: 'IDLE',
  states: ['auth', 'selected'],
  parse: noArgs,
  async run(conn) {
    conn.send('+ idling');
    conn.idling = true;
    let line: Buffer | null;
    try {
      await conn.flush(true);
      // The wait counts as the client's silence: the autologout timer runs (RFC 2177 §3: clients re-IDLE every 29 minutes).
      line = await conn.readLine();
    } finally {
      conn.idling = false;
    }
    if (line === null) return ANSWERED; // the session ended meanwhile
    // RFC 2177 §3: the client ends IDLE with DONE (case-insensitive)
    if (line.toString('latin1').trim().toUpperCase() !== 'DONE') throw new ImapError('BAD', null, 'Expected DONE');
    return { text: 'IDLE terminated' };
  },
});
