// The POP3 command table: one module per command (as SMTP's), looked up by name.
import type { Pop3Command } from './common.js';
import { apop } from './apop.js';
import { auth } from './auth.js';
import { capa } from './capa.js';
import { dele } from './dele.js';
import { list } from './list.js';
import { noop } from './noop.js';
import { pass } from './pass.js';
import { quit } from './quit.js';
import { retr } from './retr.js';
import { rset } from './rset.js';
import { stat } from './stat.js';
import { stls } from './stls.js';
import { top } from './top.js';
import { uidl } from './uidl.js';
import { user } from './user.js';
import { utf8 } from './utf8.js';

export { Pop3Error, type Pop3Command, type Pop3Conn, type Pop3State } from './common.js';
export { capabilities } from './capa.js';

export const COMMANDS: ReadonlyMap<string, Pop3Command> = new Map(
  [capa, user, pass, auth, apop, stls, utf8, quit, stat, list, uidl, retr, top, dele, noop, rset].map((c) => [c.name, c]),
);
