// AUTH (RFC 5034): SASL PLAIN and LOGIN, with an optional initial response.
import { okLine } from '../wire.js';
import { AUTHORIZATION, MECHANISMS, Pop3Error, command, requireAuthAllowed, sendList } from './common.js';
import { createSasl, decodeSaslResponse, runSasl } from './login.js';

type AuthArgs = { list: true } | { list: false; mechanism: string; initial: Buffer | null };

export const auth = command({
  name: 'AUTH',
  states: AUTHORIZATION,
  parse(cmd): AuthArgs {
    // Not in RFC 5034: older clients (Outlook) send a bare AUTH to list mechanisms.
    if (cmd.args.length === 0) return { list: true };
    if (cmd.args.length > 2) throw new Pop3Error('AUTH takes a mechanism and an optional initial response', undefined, true);
    let initial: Buffer | null = null;
    if (cmd.args[1] !== undefined) {
      // RFC 5034 §4: the initial response is base64; "=" means an empty one.
      const r = decodeSaslResponse(cmd.args[1]);
      if (!r) throw new Pop3Error('Invalid base64 in initial response');
      if (r.cancel) throw new Pop3Error('Authentication canceled');
      initial = r.data;
    }
    return { list: false, mechanism: cmd.args[0]!.toUpperCase(), initial };
  },
  async run(c, a) {
    requireAuthAllowed(c);
    if (a.list) {
      await sendList(c, okLine('Mechanisms follow'), MECHANISMS);
      return;
    }
    const mech = createSasl(a.mechanism);
    if (!mech) throw new Pop3Error('Unsupported authentication mechanism');
    await runSasl(c, mech, a.initial);
  },
});
