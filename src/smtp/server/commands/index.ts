// The command table: one module per command, looked up by verb (DESIGN.md "Rules of the house").
import type { SmtpCommand } from '../state.js';
import { ehlo } from './ehlo.js';
import { helo } from './helo.js';
import { mail } from './mail.js';
import { rcpt } from './rcpt.js';
import { data } from './data.js';
import { bdat } from './bdat.js';
import { rset } from './rset.js';
import { noop } from './noop.js';
import { quit } from './quit.js';
import { help } from './help.js';
import { vrfy } from './vrfy.js';
import { expn } from './expn.js';
import { starttls } from './starttls.js';
import { auth } from './auth.js';

const all: SmtpCommand<never>[] = [ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, help, vrfy, expn, starttls, auth] as SmtpCommand<never>[];

export const COMMANDS: ReadonlyMap<string, SmtpCommand<unknown>> = new Map(all.map((c) => [c.name, c as unknown as SmtpCommand<unknown>]));
