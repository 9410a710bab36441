// IDLE (RFC 2177, RFC 9051 §6.3.13): changes are pushed as they happen until DONE.
import { PENDING, type CommandDescriptor } from '../server/conn.js';

export const idle: CommandDescriptor = {
  states: ['auth', 'selected'],
  async run({ tag, args, conn }) {
    args.end();
    conn.send('+ idling');
    conn.idling = true;
    await conn.flush(true);
    conn.setLineHandler(async (line) => {
      conn.setLineHandler(null);
      conn.idling = false;
      // RFC 2177 §3: the client ends IDLE with DONE (case-insensitive)
      if (line.toString('latin1').trim().toUpperCase() !== 'DONE') {
        conn.finishTagged(tag, 'BAD', null, 'Expected DONE');
        return;
      }
      await conn.flush(true);
      conn.finishTagged(tag, 'OK', null, 'IDLE terminated');
    });
    return PENDING;
  },
};
